using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using BlogApp.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using RcAspNet.Tests.Infrastructure;

namespace BlogApp.Tests;

/// <summary>The tutorial in a real browser: Debian's headless Chromium, driven by Playwright, against the blog on Kestrel.</summary>
public sealed class BrowserTests : IAsyncLifetime
{
    // A clock that moves only when a test moves it: expiry without waiting.
    private readonly ManualTimeProvider _clock = new(DateTimeOffset.UtcNow);
    private readonly BlogFactory _blog;
    private IPlaywright? _playwright;
    private IBrowser? _browser;
    private string _baseUrl = "";

    public BrowserTests() => _blog = new BlogFactory(time: _clock);

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
    public async Task ReloadedPostPageIsRevalidated_AndAnswered304FromTheCache()
    {
        var page = await _browser!.NewPageAsync();
        await page.GotoAsync(_baseUrl + "/");
        await page.FillAsync("#title", "Kept by the browser");
        await page.FillAsync("#content", "Revalidated on reload.");
        await page.ClickAsync("input[type=submit][value=Post]");
        await Assertions.Expect(page.Locator("li a").First).ToHaveTextAsync("Kept by the browser");

        var first = await page.GotoAsync(_baseUrl + "/post/1");
        var etag = await first!.HeaderValueAsync("etag");
        Assert.Equal(200, first.Status);
        Assert.Equal("no-cache", await first.HeaderValueAsync("cache-control"));
        Assert.NotNull(etag);

        // Chromium reports a revalidated page as the 200 it kept (Playwright issue 27573), so the status line that
        // came over the wire is read where DevTools reads it: Network.responseReceivedExtraInfo, by request id.
        var wire = await WireStatusesAsync(page);

        // The browser kept the page and asks whether it changed: the cache answers 304 without a body or a handler run.
        var second = await page.ReloadAsync();
        Assert.Equal(etag, await second!.Request.HeaderValueAsync("if-none-match"));
        Assert.Equal((304, "HIT"), await wire(_baseUrl + "/post/1"));
        await Assertions.Expect(page.Locator("h1").First).ToHaveTextAsync("Kept by the browser");
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

    [Fact]
    public async Task PostPageWhileTheDatabaseIsDown_StillShowsItsContent_AndStatsCountIt()
    {
        var page = await _browser!.NewPageAsync();
        await page.GotoAsync(_baseUrl + "/");
        await page.FillAsync("#title", "Kept through an outage");
        await page.FillAsync("#content", "Served from its last render.");
        await page.ClickAsync("input[type=submit][value=Post]");
        await Assertions.Expect(page.Locator("li a").First).ToHaveTextAsync("Kept through an outage");
        var first = await page.GotoAsync(_baseUrl + "/post/1");
        Assert.Equal("MISS", await first!.HeaderValueAsync("x-cache"));

        // A day later the page and the post's data have expired, and the database is gone.
        _clock.Advance(TimeSpan.FromDays(1) + TimeSpan.FromMinutes(1));
        _blog.TakeDatabaseDown();

        // A visitor with nothing kept (a context of its own) gets the last render, marked STALE, rather than an error.
        await using var visitor = await _browser.NewContextAsync();
        var later = await visitor.NewPageAsync();
        var stale = await later.GotoAsync(_baseUrl + "/post/1");
        Assert.Equal((200, "STALE"), (stale!.Status, await stale.HeaderValueAsync("x-cache")));
        await Assertions.Expect(later.Locator("h1").First).ToHaveTextAsync("Kept through an outage");
        await Assertions.Expect(later.Locator("p").First).ToHaveTextAsync("Served from its last render.");

        await later.GotoAsync(_baseUrl + "/stats");
        await Assertions.Expect(later.Locator("svg#served-stale title").Filter(new() { HasText = "pages:" }))
            .ToHaveTextAsync(new System.Text.RegularExpressions.Regex("^pages: [1-9]\\d* \\(factory_failed [1-9]"));
    }

    /// <summary>
    /// Records, from now on, the status line and X-Cache header of each response as it came over the wire; the
    /// function returned waits for those of the first response to a URL.
    /// </summary>
    private static async Task<Func<string, Task<(int Status, string? Cache)>>> WireStatusesAsync(IPage page)
    {
        var urls = new ConcurrentDictionary<string, string>();
        var answers = new ConcurrentDictionary<string, (int Status, string? Cache)>();
        var cdp = await page.Context.NewCDPSessionAsync(page);
        cdp.Event("Network.responseReceived").OnEvent += (_, e) =>
            urls.TryAdd(e!.Value.GetProperty("requestId").GetString()!, e.Value.GetProperty("response").GetProperty("url").GetString()!);
        cdp.Event("Network.responseReceivedExtraInfo").OnEvent += (_, e) =>
        {
            var headers = e!.Value.GetProperty("headers");
            var cache = headers.EnumerateObject().FirstOrDefault(static h => h.Name.Equals("x-cache", StringComparison.OrdinalIgnoreCase)).Value;
            answers.TryAdd(e.Value.GetProperty("requestId").GetString()!, (e.Value.GetProperty("statusCode").GetInt32(), cache.ValueKind == JsonValueKind.String ? cache.GetString() : null));
        };
        await cdp.SendAsync("Network.enable");
        return async url =>
        {
            for (var waited = Stopwatch.StartNew(); waited.Elapsed < TimeSpan.FromSeconds(30); await Task.Delay(20))
            {
                foreach (var (id, answered) in urls)
                {
                    if (answered == url && answers.TryGetValue(id, out var answer))
                    {
                        return answer;
                    }
                }
            }

            throw new TimeoutException($"Chromium reported no response from {url} within 30 s.");
        };
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
