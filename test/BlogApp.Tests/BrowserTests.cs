using BlogApp.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace BlogApp.Tests;

/// <summary>The tutorial in a real browser: Debian's headless Chromium, driven by Playwright, against the blog on Kestrel.</summary>
public sealed class BrowserTests : IAsyncLifetime
{
    /// <summary>
    /// Waits for a navigation to commit, not for its load event: under a loaded machine, Playwright once missed a load
    /// event that had fired (only NetworkIdle was seen) and waited out its 30 s. What the test reads next waits for its
    /// element in the new document anyway.
    /// </summary>
    private static readonly PageWaitForURLOptions Committed = new() { WaitUntil = WaitUntilState.Commit };

    private readonly BlogFactory _blog = new();
    private IPlaywright? _playwright;
    private IBrowser? _browser;
    private string _baseUrl = "";

    public async Task InitializeAsync()
    {
        _blog.UseKestrel(0);
        _blog.StartServer();
        _baseUrl = _blog.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().Replace("localhost", "127.0.0.1", StringComparison.Ordinal);
        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium(),
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
    }

    public async Task DisposeAsync()
    {
        if (_browser is not null)
        {
            await _browser.DisposeAsync();
        }

        _playwright?.Dispose();
        await _blog.DisposeAsync();
    }

    [Fact]
    public async Task AddOpenEditAndSeeTheNewTitle()
    {
        var page = await _browser!.NewPageAsync();
        await page.GotoAsync(_baseUrl + "/");
        Assert.Equal("Blog", await page.TitleAsync());

        await page.FillAsync("#title", "Written in Chromium");
        await page.FillAsync("#content", "Through the add form.");
        await page.ClickAsync("input[type=submit][value=Post]");
        await page.WaitForURLAsync(_baseUrl + "/", Committed);

        var first = await page.RunAndWaitForResponseAsync(() => page.ClickAsync("text=Written in Chromium"), _baseUrl + "/post/1");
        Assert.Equal("Written in Chromium", await page.InnerTextAsync("h1"));
        Assert.Equal("Through the add form.", await page.InnerTextAsync("p"));

        // The page viewed twice: rendered once, then served by [RcCached].
        var second = await page.ReloadAsync();
        Assert.Equal("MISS", await first.HeaderValueAsync("x-cache"));
        Assert.Equal("HIT", await second!.HeaderValueAsync("x-cache"));

        // The cached page links to the visitor's own edit page, whose form carries the visitor's token: no script.
        await page.ClickAsync("text=Edit");
        await page.WaitForURLAsync(_baseUrl + "/post/1/edit", Committed);
        await page.FillAsync("#title", "Edited in Chromium");
        await page.FillAsync("#content", "Through the edit form.");
        await page.ClickAsync("input[type=submit][value=Update]");
        await page.WaitForURLAsync(_baseUrl + "/post/1", Committed);
        Assert.Equal("Edited in Chromium", await page.InnerTextAsync("h1"));
        Assert.Equal("Through the edit form.", await page.InnerTextAsync("p"));

        await page.GotoAsync(_baseUrl + "/");
        Assert.Equal("Edited in Chromium", await page.InnerTextAsync("li a"));
    }

    [Fact]
    public async Task EditingWorksWithJavaScriptOff()
    {
        await using var context = await _browser!.NewContextAsync(new BrowserNewContextOptions { JavaScriptEnabled = false });
        var page = await context.NewPageAsync();
        await page.GotoAsync(_baseUrl + "/");
        await page.FillAsync("#title", "No script");
        await page.FillAsync("#content", "Forms only.");
        await page.ClickAsync("input[type=submit][value=Post]");
        await page.ClickAsync("text=No script");
        await page.ClickAsync("text=Edit");
        await page.FillAsync("#title", "Still no script");
        await page.ClickAsync("input[type=submit][value=Update]");
        await page.WaitForURLAsync(new System.Text.RegularExpressions.Regex("/post/\\d+$"), Committed);
        Assert.Equal("Still no script", await page.InnerTextAsync("h1"));
    }

    [Fact]
    public async Task StatsPageDrawsTheCachesAsCharts()
    {
        var page = await _browser!.NewPageAsync();
        await page.GotoAsync(_baseUrl + "/");
        await page.GotoAsync(_baseUrl + "/stats");
        Assert.Equal("Cache statistics", await page.TitleAsync());
        Assert.True(await page.Locator("svg#hit-ratio rect").CountAsync() >= 1);
        var bar = await page.Locator("svg#hit-ratio rect").First.BoundingBoxAsync();
        Assert.NotNull(bar);
    }

    private static string Chromium()
    {
        foreach (var path in new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser" })
        {
            if (File.Exists(path))
            {
                return path;
            }
        }

        throw new InvalidOperationException("Debian's chromium is not installed: apt-get install -y chromium (./test.sh and .ci/run do this).");
    }
}
