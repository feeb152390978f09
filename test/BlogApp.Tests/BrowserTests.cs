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
        await page.WaitForURLAsync(_baseUrl + "/");

        await page.ClickAsync("text=Written in Chromium");
        await page.WaitForURLAsync(_baseUrl + "/post/1");
        Assert.Equal("Written in Chromium", await page.InnerTextAsync("h1"));
        Assert.Equal("Through the add form.", await page.InnerTextAsync("p"));

        // The page came from [RcCached]: the form fetches its own antiforgery token before it is sent.
        await page.FillAsync("#title", "Edited in Chromium");
        await page.FillAsync("#content", "Through the update form.");
        await page.ClickAsync("input[type=submit][value=Update]");
        await page.WaitForURLAsync(_baseUrl + "/");

        Assert.Equal("Edited in Chromium", await page.InnerTextAsync("li a"));
        await page.ClickAsync("text=Edited in Chromium");
        Assert.Equal("Through the update form.", await page.InnerTextAsync("p"));
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
