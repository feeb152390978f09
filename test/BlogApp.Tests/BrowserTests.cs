using BlogApp.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace BlogApp.Tests;

/// <summary>The tutorial in a real browser: Debian's headless Chromium, driven by Playwright, against the blog on Kestrel.</summary>
public sealed class BrowserTests : IAsyncLifetime
{
    private readonly BlogFactory _blog = new();
    private IPlaywright? _playwright;
    private IBrowser? _browser;
    private string _baseUrl = "";

    public async Task InitializeAsync()
    {
        // Web-first assertions retry until they hold. WaitForURLAsync does not: when the navigation has already ended,
        // it waits for a load state, and under two busy loops it twice waited out its 30 s for one Playwright never
        // reported. The generous deadline is for the loaded machine; a pass takes milliseconds.
        Assertions.SetDefaultExpectTimeout(30_000);
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

        // The link exists only on the index the form's POST redirects to: the click waits for it.
        var first = await page.RunAndWaitForResponseAsync(() => page.ClickAsync("text=Written in Chromium"), _baseUrl + "/post/1");
        Assert.Equal("Written in Chromium", await page.InnerTextAsync("h1"));
        Assert.Equal("Through the add form.", await page.InnerTextAsync("p"));

        // The page viewed twice: rendered once, then served by [RcCached].
        var second = await page.ReloadAsync();
        Assert.Equal("MISS", await first.HeaderValueAsync("x-cache"));
        Assert.Equal("HIT", await second!.HeaderValueAsync("x-cache"));

        // The cached page links to the visitor's own edit page, whose form carries the visitor's token: no script.
        await page.ClickAsync("text=Edit");
        await Assertions.Expect(page).ToHaveURLAsync(_baseUrl + "/post/1/edit");
        await page.FillAsync("#title", "Edited in Chromium");
        await page.FillAsync("#content", "Through the edit form.");
        await page.ClickAsync("input[type=submit][value=Update]");
        await Assertions.Expect(page).ToHaveURLAsync(_baseUrl + "/post/1");
        await Assertions.Expect(page.Locator("h1").First).ToHaveTextAsync("Edited in Chromium");
        await Assertions.Expect(page.Locator("p").First).ToHaveTextAsync("Through the edit form.");

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
        await Assertions.Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/post/\\d+$"));
        await Assertions.Expect(page.Locator("h1").First).ToHaveTextAsync("Still no script");
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
