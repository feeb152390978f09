using System.Net;
using BlogApp.Tests.Infrastructure;
using RcAspNet.Tests.Infrastructure;

namespace BlogApp.Tests;

/// <summary>
/// Fail-safe on the blog (Rc:Caches:pages:FailSafe): a post page whose handler fails because the database is down is
/// served from its last render, marked STALE, instead of the error. Expiry is a fake clock moved forward, with the TTLs
/// of the test's keys on the real Redis server moved by as much (<see cref="RedisTime"/>): no test waits for it.
/// </summary>
public sealed class FailSafeTests
{
    /// <summary>Past the post's data in the data cache (a day) and its page (10 minutes), within the page's fail-safe day.</summary>
    private static readonly TimeSpan PastExpiry = TimeSpan.FromDays(1) + TimeSpan.FromMinutes(1);

    [Theory]
    [InlineData("Memory")]
    [InlineData("Redis")]
    public async Task ExpiredPostPage_WhileTheDatabaseIsDown_IsServedStaleWithItsLastContent(string store)
    {
        await using var blog = await Blog.StartAsync(store);
        using var client = blog.Factory.Browser();
        Assert.Equal("MISS", Status(await client.GetAsync("/post/1")));
        var hit = await client.GetAsync("/post/1");
        Assert.Equal("HIT", Status(hit));
        var page = await hit.Content.ReadAsStringAsync();
        Assert.Contains("<h1>Post 1</h1>", page, StringComparison.Ordinal);

        await blog.PassAsync(PastExpiry);
        blog.Factory.TakeDatabaseDown();
        var stale = await client.GetAsync("/post/1");
        Assert.Equal((HttpStatusCode.OK, "STALE", page), (stale.StatusCode, Status(stale), await stale.Content.ReadAsStringAsync()));
    }

    [Theory]
    [InlineData("Memory")]
    [InlineData("Redis")]
    public async Task PostPageNeverRendered_WhileTheDatabaseIsDown_IsAServerError(string store)
    {
        await using var blog = await Blog.StartAsync(store);
        using var client = blog.Factory.Browser();
        await client.GetAsync("/post/1");
        await blog.PassAsync(PastExpiry);
        blog.Factory.TakeDatabaseDown();

        // Post 2 exists, but neither its page nor its data was ever cached: there is no fallback to serve.
        var failed = await client.GetAsync("/post/2");
        Assert.True((int)failed.StatusCode >= 500, $"GET /post/2 answered {(int)failed.StatusCode}");
    }

    [Theory]
    [InlineData("Memory")]
    [InlineData("Redis")]
    public async Task StalePostPage_OnceTheDatabaseIsBack_IsRenderedAfreshWhenTheThrottleEnds(string store)
    {
        await using var blog = await Blog.StartAsync(store);
        using var client = blog.Factory.Browser();
        await client.GetAsync("/post/1");
        await blog.Factory.RetitleInDatabaseAsync(1, "Retitled behind the cache");
        await blog.PassAsync(PastExpiry);
        blog.Factory.TakeDatabaseDown();
        Assert.Equal("STALE", Status(await client.GetAsync("/post/1")));

        // Within the throttle (30 s) the last page answers without asking the database.
        blog.Factory.BringDatabaseBack();
        var throttled = await client.GetAsync("/post/1");
        Assert.Equal("STALE", Status(throttled));
        Assert.Contains("<h1>Post 1</h1>", await throttled.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        await blog.PassAsync(TimeSpan.FromSeconds(31));
        var fresh = await client.GetAsync("/post/1");
        Assert.Equal((HttpStatusCode.OK, "MISS"), (fresh.StatusCode, Status(fresh)));
        Assert.Contains("<h1>Retitled behind the cache</h1>", await fresh.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var hit = await client.GetAsync("/post/1");
        Assert.Equal("HIT", Status(hit));
        Assert.Contains("<h1>Retitled behind the cache</h1>", await hit.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Memory")]
    [InlineData("Redis")]
    public async Task Stats_CountsTheAnswersServedStale_ByCacheAndReason(string store)
    {
        await using var blog = await Blog.StartAsync(store);
        using var client = blog.Factory.Browser();
        await client.GetAsync("/post/1");
        await blog.PassAsync(PastExpiry);
        blog.Factory.TakeDatabaseDown();

        // The first fails over to the fallback; the second is within the throttle, and the handler is not run.
        Assert.Equal("STALE", Status(await client.GetAsync("/post/1")));
        Assert.Equal("STALE", Status(await client.GetAsync("/post/1")));
        var html = await client.GetStringAsync("/stats");
        Assert.Matches("<svg id=\"served-stale\"[^$]*<title>pages: 2 \\(factory_failed 1, throttled 1\\)</title>", html);
        Assert.Matches("<svg id=\"served-stale\"[^$]*<title>default: 0</title>", html);
    }

    private static string? Status(HttpResponseMessage response) =>
        response.Headers.TryGetValues("X-Cache", out var values) ? string.Join(",", values) : null;

    /// <summary>The blog with three posts on a fake clock, on the memory store or on a redis-server of its own.</summary>
    private sealed class Blog(BlogFactory factory, ManualTimeProvider clock, RedisServer? server, string ns) : IAsyncDisposable
    {
        public BlogFactory Factory => factory;

        public static async Task<Blog> StartAsync(string store)
        {
            var clock = new ManualTimeProvider(DateTimeOffset.UtcNow);
            var ns = $"blog{Guid.NewGuid():N}:";
            var settings = new Dictionary<string, string?> { ["Blog:SeedPosts"] = "3", ["Rc:Namespace"] = ns };
            RedisServer? server = null;
            if (store == "Redis")
            {
                server = await RedisServer.StartAsync();
                settings["Rc:Store"] = "Redis";
                settings["Rc:Redis"] = server.EndPoint;
            }

            var blog = new Blog(new BlogFactory(settings, clock), clock, server, ns);
            try
            {
                _ = blog.Factory.Server;
                return blog;
            }
            catch
            {
                await blog.DisposeAsync();
                throw;
            }
        }

        /// <summary>Lets time pass: the blog's clock, and the TTLs of the blog's keys on its Redis server.</summary>
        public async Task PassAsync(TimeSpan time)
        {
            clock.Advance(time);
            if (server is not null)
            {
                await RedisTime.PassAsync(server.EndPoint, ns, time);
            }
        }

        public async ValueTask DisposeAsync()
        {
            await factory.DisposeAsync();
            if (server is not null)
            {
                await server.DisposeAsync();
            }
        }
    }
}
