using System.Diagnostics;
using System.Globalization;
using System.Net;
using BlogApp.Tests.Infrastructure;
using RcAspNet.Tests.Infrastructure;
using Xunit.Abstractions;

namespace BlogApp.Tests;

/// <summary>
/// The blog on three real shards: its posts are read (so their pages, API answers and the index are cached), one
/// shard stops answering, every post is edited through the edit form, and the shard comes back. Every page, API answer
/// and the index are read while it is away and once it serves again: none may show a title that was replaced.
/// </summary>
public sealed class EditsDuringFaultsTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Posts = 12;
    private RedisServer[] _servers = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var server in _servers)
        {
            await server.DisposeAsync();
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task EditsWhileAShardIsFrozen_AreNeverServedStale(bool near)
    {
        await using var blog = await StartAsync(near);
        using var client = blog.Browser();
        await ReadEverythingAsync(client);

        _servers[1].Pause();
        int staleDuring;
        try
        {
            await EditEveryPostAsync(client);
            staleDuring = await StaleAsync(client);

            // /stats charts the removals kept for the frozen shard.
            Assert.Matches("<svg id=\"pending-removals\"[^$]*<title>cache02: [1-9]\\d*</title>", await client.GetStringAsync("/stats"));
        }
        finally
        {
            _servers[1].Resume();
        }

        var back = await ServingAgainAsync(client);
        var staleAfter = await StaleAsync(client);
        output.WriteLine($"frozen shard, near cache {(near ? "on" : "off")}: {Posts} posts edited; stale answers {staleDuring} while it was frozen, {staleAfter} after; healthy {back.TotalMilliseconds:0} ms after the thaw");
        Assert.Equal(0, staleDuring);
        Assert.Equal(0, staleAfter);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public Task EditsWhileADurableShardIsDown_AreNeverServedStale_AfterItRestartsFromItsFile(bool near) =>
        EditWhileAShardIsDownAsync(near, "restarted from its append-only file", saveFirst: false, "--appendonly", "yes");

    /// <summary>
    /// What a shard killed before its next fsync loses, made certain: its snapshot predates every page and answer, so it
    /// comes back without the registrations of entries under its tags, while those entries live on the others.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public Task EditsWhileAShardIsDown_AreNeverServedStale_AfterItRestartsWithoutTagRegistrationsItAcknowledged(bool near) =>
        EditWhileAShardIsDownAsync(near, "restarted from a snapshot older than every cached page", saveFirst: true);

    /// <summary>Reads everything, kills a shard, edits every post, restarts the shard from its disk: nothing reads stale, while it is down or after.</summary>
    private async Task EditWhileAShardIsDownAsync(bool near, string restart, bool saveFirst, params string[] serverArgs)
    {
        await using var blog = await StartAsync(near, serverArgs);
        using var client = blog.Browser();
        if (saveFirst)
        {
            await _servers[1].CommandAsync("SAVE");
        }

        await ReadEverythingAsync(client);
        _servers[1].Kill();
        await EditEveryPostAsync(client);
        var staleDuring = await StaleAsync(client);
        await _servers[1].RestartAsync();
        var back = await ServingAgainAsync(client);
        var staleAfter = await StaleAsync(client);
        output.WriteLine($"shard killed and {restart}, near cache {(near ? "on" : "off")}: {Posts} posts edited; stale answers {staleDuring} while it was down, {staleAfter} after; healthy {back.TotalMilliseconds:0} ms after the restart");
        Assert.Equal(0, staleDuring);
        Assert.Equal(0, staleAfter);
    }

    private async Task<BlogFactory> StartAsync(bool near, params string[] serverArgs)
    {
        _servers = await RedisServer.StartManyAsync(3, serverArgs);
        var settings = new Dictionary<string, string?>
        {
            ["Blog:SeedPosts"] = Posts.ToString(CultureInfo.InvariantCulture),
            ["Rc:Store"] = "Sharded",
            ["Rc:OperationTimeout"] = "00:00:00.250",
            ["Rc:CircuitBreakerThreshold"] = "3",
            ["Rc:CircuitBreakDuration"] = "00:00:01",
            ["Rc:NearCache:Enabled"] = near ? "true" : "false",
        };
        for (var i = 0; i < _servers.Length; i++)
        {
            settings[$"Rc:Shards:cache0{i + 1}:Host"] = "127.0.0.1";
            settings[$"Rc:Shards:cache0{i + 1}:Port"] = _servers[i].Port.ToString(CultureInfo.InvariantCulture);
        }

        return new BlogFactory(settings);
    }

    /// <summary>Every page, API answer and the index, twice, as visitors would: they are cached, and with the near cache copied.</summary>
    private static async Task ReadEverythingAsync(HttpClient client)
    {
        for (var round = 0; round < 2; round++)
        {
            Assert.Equal(Posts, (await client.GetStringAsync("/")).Split("<li>").Length - 1);
            for (var id = 1; id <= Posts; id++)
            {
                Assert.Contains($"<h1>Post {id}</h1>", await client.GetStringAsync($"/post/{id}"), StringComparison.Ordinal);
                Assert.Contains($"\"title\":\"Post {id}\"", await client.GetStringAsync($"/api/posts/{id}"), StringComparison.Ordinal);
            }
        }
    }

    /// <summary>Edits every post through its edit form, as a visitor would; each edit answers 302.</summary>
    private static async Task EditEveryPostAsync(HttpClient client)
    {
        for (var id = 1; id <= Posts; id++)
        {
            using var response = await BlogFactory.UpdateAsync(client, id, $"Edited {id}", "new text");
            Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        }
    }

    /// <summary>How many answers still show a title that an edit replaced: each post's page and API answer, and each title on the index.</summary>
    private static async Task<int> StaleAsync(HttpClient client)
    {
        var index = await client.GetStringAsync("/");
        var stale = Enumerable.Range(1, Posts).Count(id => index.Contains($">Post {id}</a>", StringComparison.Ordinal));
        for (var id = 1; id <= Posts; id++)
        {
            using var pageResponse = await client.GetAsync($"/post/{id}");
            var page = await pageResponse.Content.ReadAsStringAsync();
            stale += page.Contains($"<h1>Post {id}</h1>", StringComparison.Ordinal) ? 1 : 0;
            Assert.True(
                page.Contains($"<h1>Edited {id}</h1>", StringComparison.Ordinal),
                $"Post {id} answered {(int)pageResponse.StatusCode}, X-Cache {string.Join(",", pageResponse.Headers.TryGetValues("X-Cache", out var status) ? status : [])}, heading {System.Text.RegularExpressions.Regex.Match(page, "<h1>.*?</h1>").Value}: not its edited title.");
            var answer = await client.GetStringAsync($"/api/posts/{id}");
            stale += answer.Contains($"\"title\":\"Post {id}\"", StringComparison.Ordinal) ? 1 : 0;
        }

        return stale;
    }

    /// <summary>
    /// Waits until /health answers Healthy. Until then it may answer Degraded (200) or, for a moment when a loaded machine
    /// keeps every ping past the short operation timeout these tests set, Unhealthy (503): both mean not yet.
    /// </summary>
    private static async Task<TimeSpan> ServingAgainAsync(HttpClient client)
    {
        var watch = Stopwatch.StartNew();
        while (await HealthAsync(client) != "Healthy")
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), "The shard did not serve again within 30 s.");
            await Task.Delay(50);
        }

        return watch.Elapsed;
    }

    private static async Task<string> HealthAsync(HttpClient client)
    {
        using var response = await client.GetAsync("/health");
        return await response.Content.ReadAsStringAsync();
    }
}
