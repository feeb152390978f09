using System.Globalization;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Logging.Abstractions;
using RcAspNet.Caching;
using RcAspNet.Stores;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Caching;

/// <summary>What IDistributedCache leaves in Redis, read back with redis-cli's own protocol: rc's layout, and the cost of reads.</summary>
public sealed class RedisLayoutTests : IAsyncLifetime
{
    private const string Ns = "blog:";
    private RedisServer? _server;
    private IRcStore? _store;
    private RcDistributedCache? _cache;

    private RedisServer Server => _server!;

    private RcDistributedCache Cache => _cache!;

    public async Task InitializeAsync()
    {
        _server = await RedisServer.StartAsync();
        _store = TestStores.Create(TestStores.Options(o => (o.Store, o.Redis) = (RcStoreKind.Redis, _server.EndPoint)));
        _cache = new RcDistributedCache(new CacheNamespace("default", _store, Ns, TimeSpan.FromDays(3), TestStores.Options(), TimeProvider.System, RcAspNet.Diagnostics.RcMetrics.Standalone, NullLogger.Instance));
        await _cache.GetAsync("warm-up");
    }

    public async Task DisposeAsync()
    {
        await _store!.DisposeAsync();
        await Server.DisposeAsync();
    }

    [Fact]
    public async Task EntryWithoutSliding_IsAPlainStringOfExactlyTheValue_UnderNamespacePlusKey()
    {
        await Cache.SetAsync("post:1", "{\"a\": 1}"u8.ToArray(), new DistributedCacheEntryOptions { AbsoluteExpirationRelativeToNow = TimeSpan.FromMinutes(1) });
        Assert.Equal("+string\r\n", await Server.CommandAsync("TYPE", "blog:post:1"));
        Assert.Equal("$8\r\n{\"a\": 1}\r\n", await Server.CommandAsync("GET", "blog:post:1"));
    }

    /// <summary>
    /// The write carries the lifetime in milliseconds, as the server's slow log (which logs every command here) shows:
    /// read from the command, not from <c>PTTL</c>, since a pause of a loaded machine between the write and a
    /// <c>PTTL</c> moves the latter but not the former.
    /// </summary>
    [Fact]
    public async Task TimeToLive_HasMillisecondPrecision()
    {
        await Server.CommandAsync("CONFIG", "SET", "slowlog-log-slower-than", "0");
        await Server.CommandAsync("SLOWLOG", "RESET");
        await Cache.SetAsync("ttl", [1], new DistributedCacheEntryOptions { AbsoluteExpirationRelativeToNow = TimeSpan.FromMilliseconds(1234) });
        var log = await Server.CommandAsync("SLOWLOG", "GET", "10");
        Assert.Contains("$8\r\nblog:ttl\r\n", log, StringComparison.Ordinal);
        Assert.Contains("$4\r\n1234\r\n", log, StringComparison.Ordinal);
        Assert.Matches("(?i)(\\$6\r\npsetex|\\$3\r\nset)\r\n\\$8\r\nblog:ttl\r\n", log);

        // And the key has a lifetime, of at most that (gone, -2, if a pause outlasted it; never -1, none).
        var pttl = long.Parse((await Server.CommandAsync("PTTL", "blog:ttl")).Trim(':', '\r', '\n'), CultureInfo.InvariantCulture);
        Assert.NotEqual(-1, pttl);
        Assert.True(pttl <= 1234, $"PTTL {pttl}");
    }

    [Fact]
    public async Task EntryWithoutExpiration_GetsTheDefaultExpiration()
    {
        await Cache.SetAsync("default", [1], new DistributedCacheEntryOptions());
        var pttl = long.Parse((await Server.CommandAsync("PTTL", "blog:default")).Trim(':', '\r', '\n'), CultureInfo.InvariantCulture);
        Assert.InRange(pttl, (long)TimeSpan.FromDays(3).TotalMilliseconds - 60_000, (long)TimeSpan.FromDays(3).TotalMilliseconds);
    }

    [Fact]
    public async Task Set_IsOneCommandThatSetsValueAndTtl()
    {
        await Server.ResetStatsAsync();
        await Cache.SetAsync("one-command", [1], new DistributedCacheEntryOptions { AbsoluteExpirationRelativeToNow = TimeSpan.FromMilliseconds(1500) });
        var stats = await Server.CommandStatsAsync();
        Assert.Equal(1, stats.GetValueOrDefault("psetex") + stats.GetValueOrDefault("set") + stats.GetValueOrDefault("setex"));
        Assert.DoesNotContain("expire", stats.Keys);
        Assert.DoesNotContain("pexpire", stats.Keys);
    }

    [Fact]
    public async Task Get_SlidingEntry_IsOneReadPlusARenewalSentWithoutWaiting()
    {
        await Cache.SetAsync("sliding", [1, 2], new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromMinutes(10) });
        await Server.CommandAsync("PEXPIRE", "blog:sliding", "60000");
        await Server.ResetStatsAsync();

        Assert.Equal([1, 2], (await Cache.GetAsync("sliding"))!);
        await WaitForAsync(async () => Renewals(await Server.CommandStatsAsync()) > 0);

        var stats = await Server.CommandStatsAsync();
        Assert.Equal(1, stats["get"]);
        Assert.Equal(1, Renewals(stats));
        Assert.DoesNotContain("hmget", stats.Keys);
        var pttl = long.Parse((await Server.CommandAsync("PTTL", "blog:sliding")).Trim(':', '\r', '\n'), CultureInfo.InvariantCulture);
        Assert.True(pttl > 60_000, $"The read renewed the entry to its 10-minute window; PTTL is {pttl}.");
    }

    [Fact]
    public async Task Get_HotSlidingEntry_IsRenewedOncePerHundredthOfItsWindow()
    {
        await Cache.SetAsync("hot", [1], new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromMinutes(10) });
        await Server.ResetStatsAsync();
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal([1], (await Cache.GetAsync("hot"))!);
        }

        await WaitForAsync(async () => Renewals(await Server.CommandStatsAsync()) > 0);
        var stats = await Server.CommandStatsAsync();
        Assert.Equal(20, stats["get"]);
        Assert.Equal(1, Renewals(stats));
        var pttl = long.Parse((await Server.CommandAsync("PTTL", "blog:hot")).Trim(':', '\r', '\n'), CultureInfo.InvariantCulture);
        Assert.InRange(pttl, 600_000, 606_000);
    }

    [Fact]
    public async Task ValueWrittenByRc_IsReadAsItsExactBytes()
    {
        // What rc's Cache(namespace="blog:").set("post:9", {"title": "Hi"}) leaves: SETEX blog:post:9 259200 '{"title": "Hi"}'.
        await Server.CommandAsync("SETEX", "blog:post:9", "259200", "{\"title\": \"Hi\"}");
        Assert.Equal("{\"title\": \"Hi\"}"u8.ToArray(), (await Cache.GetAsync("post:9"))!);
    }

    private static long Renewals(Dictionary<string, long> stats) => stats.GetValueOrDefault("expire") + stats.GetValueOrDefault("pexpire");

    private static async Task WaitForAsync(Func<Task<bool>> condition)
    {
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(30), "The condition never held.");
            await Task.Delay(20);
        }
    }
}
