using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Stores;
using RcAspNet.Stores.Redis;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.NearCache;

/// <summary>
/// The near cache against real servers of the test's own: a warm hit costs no command, every node sees another node's or
/// a foreign client's write, a server's restart empties its copies until its link is back, and the bound holds.
/// </summary>
public abstract class NearCacheTests(Xunit.Abstractions.ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private readonly List<ServiceProvider> _nodes = [];

    protected RedisServer[] Servers { get; private set; } = [];

    protected string Ns { get; } = SharedRedis.UniqueNamespace();

    public async Task InitializeAsync() => Servers = await StartServersAsync();

    public async Task DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }

        await StopServersAsync();
    }

    protected abstract Task<RedisServer[]> StartServersAsync();

    protected abstract Task StopServersAsync();

    protected abstract void Store(RcOptions options);

    /// <summary>An app instance with the near cache on.</summary>
    protected ServiceProvider Node(long maximumSize = 64 * 1024 * 1024, TimeProvider? clock = null)
    {
        var node = TestServices.Build(o =>
        {
            Store(o);
            o.Namespace = Ns;
            o.OperationTimeout = TimeSpan.FromSeconds(10);
            o.CircuitBreakDuration = TimeSpan.FromMilliseconds(200);
            o.NearCache.Enabled = true;
            o.NearCache.MaximumSize = maximumSize;
        },
        s =>
        {
            if (clock is not null)
            {
                s.AddSingleton(clock);
            }
        });
        _nodes.Add(node);
        return node;
    }

    /// <summary>Reads <paramref name="key"/> (with <c>Get</c> when <paramref name="synchronous"/>) until the near cache answers it (its link to the key's server is up), as metrics count.</summary>
    protected static async Task WarmAsync(ServiceProvider node, string key, bool synchronous = false)
    {
        using var metrics = new MetricsRecorder(node);
        var cache = node.GetRequiredService<IDistributedCache>();
        var deadline = Stopwatch.StartNew();
        while (metrics.Sum("rc.near.hits") == 0)
        {
            Assert.True(deadline.Elapsed < Deadline, "The near cache never answered: its invalidation link did not come up.");
            Assert.NotNull(synchronous ? cache.Get(key) : await cache.GetAsync(key));
            await Task.Delay(20);
        }
    }

    /// <summary>Reads (with <c>GetString</c> when <paramref name="synchronous"/>) until <paramref name="expected"/> comes back; returns how long it took.</summary>
    protected static async Task<TimeSpan> UntilAsync(IDistributedCache cache, string key, string expected, bool synchronous = false)
    {
        var waited = Stopwatch.StartNew();
        string? read;
        while ((read = synchronous ? cache.GetString(key) : await cache.GetStringAsync(key)) != expected)
        {
            Assert.True(waited.Elapsed < Deadline, $"{key} never read as {expected} (last read as {read ?? "a miss"}).");
            await Task.Delay(1);
        }

        return waited.Elapsed;
    }

    [Fact]
    public async Task WarmHit_CostsNoRedisCommand()
    {
        var node = Node();
        var cache = node.GetRequiredService<IDistributedCache>();
        await cache.SetStringAsync("hot", "value");
        await WarmAsync(node, "hot");
        await Task.WhenAll(Servers.Select(static s => s.ResetStatsAsync()));

        for (var i = 0; i < 200; i++)
        {
            Assert.Equal("value", await cache.GetStringAsync("hot"));
            Assert.Equal("value"u8.ToArray(), cache.Get("hot"));
        }

        var reads = (await Task.WhenAll(Servers.Select(static s => s.CommandStatsAsync())))
            .Sum(static s => s.GetValueOrDefault("get") + s.GetValueOrDefault("pttl") + s.GetValueOrDefault("mget"));
        Assert.Equal(0, reads);
    }

    [Fact]
    public async Task Clear_LeavesNoCopyToBeRead_BeforeRedisInvalidationsArrive()
    {
        var node = Node();
        var cache = node.GetRequiredService<IDistributedCache>();
        var keys = Enumerable.Range(0, 200).Select(static i => $"cleared:{i}").ToArray();
        foreach (var key in keys)
        {
            await cache.SetStringAsync(key, "before the clear");
        }

        await WarmAsync(node, keys[0]);
        foreach (var key in keys)
        {
            Assert.Equal("before the clear", await cache.GetStringAsync(key));
        }

        // Read at once, from memory: the link may not have heard Redis's invalidations yet (it had not, in some runs
        // before the clear evicted its own keys' copies).
        await node.GetRequiredService<IRcCache>().ClearAsync();
        Assert.All(keys, key => Assert.Null(cache.Get(key)));
    }

    [Fact]
    public async Task WriteByAnotherNode_IsSeenByEveryNode_AndTheOldValueNeverComesBack()
    {
        var a = Node();
        var b = Node();
        var cacheA = a.GetRequiredService<IDistributedCache>();
        var cacheB = b.GetRequiredService<IDistributedCache>();
        await cacheA.SetStringAsync("shared", "v0");
        await WarmAsync(a, "shared");
        await WarmAsync(b, "shared");

        var lags = new List<double>();
        for (var version = 1; version <= 50; version++)
        {
            await cacheB.SetStringAsync("shared", $"v{version}");
            lags.Add((await UntilAsync(cacheA, "shared", $"v{version}")).TotalMilliseconds);
            for (var i = 0; i < 5; i++)
            {
                Assert.Equal($"v{version}", await cacheA.GetStringAsync("shared"));
            }
        }

        lags.Sort();
        output.WriteLine($"another node's write reached this node's near cache in p50 {lags[25]:0.0} ms, p99 {lags[^1]:0.0} ms (50 writes)");
    }

    [Fact]
    public async Task KeyWithoutTimeToLive_WrittenByAForeignClient_IsServedFromMemory()
    {
        // A barrier written by another node before this one exists (so that no invalidation of it is on its way to this
        // one), then copied: once this node reads the barrier's next value, every invalidation before it has reached it.
        var writer = Node().GetRequiredService<IDistributedCache>();
        await writer.SetStringAsync("barrier", "b1");
        await writer.SetStringAsync("no-ttl", "x");
        var node = Node();
        var cache = node.GetRequiredService<IDistributedCache>();
        await WarmAsync(node, "barrier");

        // redis-cli SET without EX: the key has no TTL (PTTL -1), and lives until it changes.
        await RedisCli("SET", Ns + "no-ttl", "forever");
        await RedisCli("SET", Ns + "barrier", "b2");
        await UntilAsync(cache, "barrier", "b2");
        await UntilAsync(cache, "no-ttl", "forever");
        await WarmAsync(node, "no-ttl");
        await Task.WhenAll(Servers.Select(static s => s.ResetStatsAsync()));

        for (var i = 0; i < 50; i++)
        {
            Assert.Equal("forever", await cache.GetStringAsync("no-ttl"));
        }

        var reads = (await Task.WhenAll(Servers.Select(static s => s.CommandStatsAsync())))
            .Sum(static s => s.GetValueOrDefault("get") + s.GetValueOrDefault("pttl"));
        Assert.Equal(0, reads);
    }

    [Fact]
    public async Task WriteByAForeignClient_IsSeen_AndTheOldValueNeverComesBack()
    {
        var node = Node();
        var cache = node.GetRequiredService<IDistributedCache>();
        await cache.SetStringAsync("foreign", "before");
        await WarmAsync(node, "foreign");

        // redis-cli, as a Python rc app or an operator would write it.
        await RedisCli("SET", Ns + "foreign", "after");
        await UntilAsync(cache, "foreign", "after");
        for (var i = 0; i < 50; i++)
        {
            Assert.Equal("after", await cache.GetStringAsync("foreign"));
        }

        await RedisCli("DEL", Ns + "foreign");
        var deleted = Stopwatch.StartNew();
        while (await cache.GetAsync("foreign") is not null)
        {
            Assert.True(deleted.Elapsed < Deadline, "A deleted key kept being served from the near cache.");
            await Task.Delay(1);
        }
    }

    [Fact]
    public async Task ServerRestart_EmptiesItsCopies_AndTheyAreUsedAgainOnceItsLinkIsBack()
    {
        var node = Node();
        var cache = node.GetRequiredService<IDistributedCache>();
        await cache.SetStringAsync("survivor", "old");
        await WarmAsync(node, "survivor");

        // The server restarts empty: a copy served now would be a value Redis no longer has.
        var server = ServerOf("survivor");
        await server.RestartAsync();
        var restarted = Stopwatch.StartNew();
        while (await cache.GetStringAsync("survivor") is not null)
        {
            Assert.True(restarted.Elapsed < Deadline, "The near cache kept serving a copy of a server that restarted empty.");
            await Task.Delay(10);
        }

        // Writes are dropped (Degrade) until the client has reconnected and, on a cluster, the node serves its slots again.
        while (await cache.GetStringAsync("survivor") != "new")
        {
            Assert.True(restarted.Elapsed < Deadline, "Writes never reached the restarted server.");
            await cache.SetStringAsync("survivor", "new");
            await Task.Delay(50);
        }

        await WarmAsync(node, "survivor");
        Assert.Equal("new", await cache.GetStringAsync("survivor"));
        output.WriteLine($"near cache in use again {restarted.ElapsedMilliseconds} ms after the server restarted");
    }

    [Fact]
    public async Task Size_StaysWithinMaximumSize()
    {
        const long Limit = 64 * 1024;
        var node = Node(Limit);
        var cache = node.GetRequiredService<IDistributedCache>();
        await cache.SetStringAsync("first", "x");
        await WarmAsync(node, "first");
        var value = new byte[1024];
        for (var i = 0; i < 400; i++)
        {
            await cache.SetAsync($"k{i}", value, new DistributedCacheEntryOptions());
            Assert.NotNull(await cache.GetAsync($"k{i}"));
        }

        var near = Near(node);
        output.WriteLine($"near cache after 400 KiB read: {near.Size} bytes in {near.Count} copies (limit {Limit})");
        Assert.InRange(near.Size, 1, Limit);
    }

    /// <summary>
    /// A read the near cache answers still renews a sliding entry in Redis: the key's <c>PTTL</c> rises after one such
    /// read. The clock is this test's own, so the renewal throttle (one per hundredth of the window) allows exactly the
    /// renewals the test makes room for; the key is set to 30 s before the read, and the renewal gives it the window's
    /// 60.6 s, so no pause of a loaded machine can make a renewal look absent or present.
    /// </summary>
    [Fact]
    public async Task SlidingEntry_ReadOnlyFromMemory_StillRenewsInRedis()
    {
        var clock = new ManualTimeProvider(DateTimeOffset.UtcNow);
        var node = Node(clock: clock);
        var cache = node.GetRequiredService<IDistributedCache>();
        await cache.SetStringAsync("sliding", "kept", new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromMinutes(1) });

        // The first read renews (to 60.6 s, past the write's 60 s); the clock then stands still until a read is made to
        // renew, so the reads that warm the copy renew nothing.
        using var reported = new MetricsRecorder(node);
        await WarmAsync(node, "sliding");
        var waited = Stopwatch.StartNew();
        while (await PttlAsync("sliding") <= 60_000)
        {
            Assert.True(waited.Elapsed < Deadline, "The first read's renewal never reached Redis.");
            await Task.Delay(20);
        }

        // The key is set to 30 s, and once Redis has reported a change since, the copy is warmed and read once on a clock
        // moved past the throttle. A report of an earlier change may still come late (whether Redis sent one for the
        // write and the first renewal depends on when the link came up): if it drops the copy before that read, the read
        // goes to Redis and renews from there, and the attempt is made again once that renewal has landed.
        for (var attempt = 1; ; attempt++)
        {
            var changes = reported.Sum("rc.near.invalidations");
            await ServerOf("sliding").CommandAsync("PEXPIRE", Ns + "sliding", "30000");
            waited.Restart();
            while (reported.Sum("rc.near.invalidations") == changes)
            {
                Assert.True(waited.Elapsed < Deadline, "Redis never reported the change to the near cache.");
                await Task.Delay(20);
            }

            await WarmAsync(node, "sliding");
            var before = await PttlAsync("sliding");
            Assert.InRange(before, 1, 30_000);

            clock.Advance(TimeSpan.FromSeconds(1));
            using var metrics = new MetricsRecorder(node);
            Assert.Equal("kept", await cache.GetStringAsync("sliding"));
            var fromMemory = metrics.Sum("rc.near.hits") == 1;

            // The renewal is sent in the background: wait for it to land, then check it gave the window plus at most 1%.
            waited.Restart();
            long after;
            while ((after = await PttlAsync("sliding")) <= 30_000)
            {
                Assert.True(waited.Elapsed < Deadline, $"The renewal never reached Redis (PTTL {after} ms, {before} ms before the read, read {(fromMemory ? "from memory" : "from Redis")}).");
                await Task.Delay(20);
            }

            if (fromMemory)
            {
                Assert.InRange(after, 30_001, 60_600);
                return;
            }

            output.WriteLine($"attempt {attempt}: a late report dropped the copy before the read");
            Assert.True(attempt < 5, "Five reads in a row found their warmed copy dropped.");
        }
    }

    [Fact]
    public async Task KeyHoldingAnotherRedisType_ReadSynchronously_IsAMiss_AndCostsNoOtherFailure()
    {
        var node = Node();
        var cache = node.GetRequiredService<IDistributedCache>();
        await cache.SetStringAsync("plain", "value");
        await WarmAsync(node, "plain", synchronous: true);

        // Held by the server that serves the key (elsewhere the harness's HSET is refused, or written and never read).
        foreach (var server in Servers)
        {
            await server.CommandAsync("HSET", Ns + "hash", "field", "value");
        }

        // The near miss pipelines GET and PTTL on one of the blocking client's connections: GET fails WRONGTYPE, and
        // PTTL's reply must be read before the connection is used again, or the next command reads it as its own.
        using var metrics = new MetricsRecorder(node);
        for (var i = 0; i < 3; i++)
        {
            Assert.Null(cache.Get("hash"));
        }

        Assert.Equal(0, metrics.Sum("rc.store.errors", static t => t["error.type"] != "foreign_data"));
        Assert.Equal(3, metrics.Sum("rc.store.errors", static t => t["error.type"] == "foreign_data"));
    }

    protected RedisServer ServerOf(string key)
    {
        foreach (var server in Servers)
        {
            if (server.CommandAsync("EXISTS", Ns + key).GetAwaiter().GetResult().StartsWith(":1", StringComparison.Ordinal))
            {
                return server;
            }
        }

        throw new InvalidOperationException($"No server holds {key}.");
    }

    private async Task<long> PttlAsync(string key) =>
        long.Parse((await ServerOf(key).CommandAsync("PTTL", Ns + key)).Trim(':', '\r', '\n'), CultureInfo.InvariantCulture);

    private protected static RcAspNet.Stores.Near.NearCopies Near(ServiceProvider node) => node.GetRequiredService<StoreFactory>().Near!;

    private async Task RedisCli(params string[] args)
    {
        var info = new ProcessStartInfo("redis-cli") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "-p", ServerPortFor(args[1]).ToString(CultureInfo.InvariantCulture) }.Concat(args))
        {
            info.ArgumentList.Add(arg);
        }

        using var cli = Process.Start(info)!;
        await cli.WaitForExitAsync();
        Assert.Equal(0, cli.ExitCode);
    }

    private int ServerPortFor(string namespacedKey) => ServerOf(namespacedKey[Ns.Length..]).Port;
}

public sealed class RedisNearCacheTests(Xunit.Abstractions.ITestOutputHelper output) : NearCacheTests(output)
{
    private RedisServer _server = null!;

    protected override async Task<RedisServer[]> StartServersAsync() => [_server = await RedisServer.StartAsync()];

    protected override async Task StopServersAsync() => await _server.DisposeAsync();

    protected override void Store(RcOptions options) => TestServices.Redis(options, _server);
}

public sealed class ShardedNearCacheTests(Xunit.Abstractions.ITestOutputHelper output) : NearCacheTests(output)
{
    private RedisServer[] _shards = [];

    protected override async Task<RedisServer[]> StartServersAsync() => _shards = await RedisServer.StartManyAsync(3);

    protected override async Task StopServersAsync()
    {
        foreach (var shard in _shards)
        {
            await shard.DisposeAsync();
        }
    }

    protected override void Store(RcOptions options) => TestServices.Sharded(options, _shards);
}

public sealed class ClusterNearCacheTests(Xunit.Abstractions.ITestOutputHelper output) : NearCacheTests(output)
{
    private RedisClusterServers _cluster = null!;

    protected override async Task<RedisServer[]> StartServersAsync() => [.. (_cluster = await RedisClusterServers.StartAsync()).Nodes];

    protected override async Task StopServersAsync() => await _cluster.DisposeAsync();

    protected override void Store(RcOptions options) => (options.Store, options.Redis) = (RcStoreKind.Redis, _cluster.Configuration);

    /// <summary>
    /// While a slot migrates, its primary answers ASK for a key already moved, and the slot maps (this node's and the
    /// client's) still name that primary: a read of the key is answered by the other primary, whose writes never reach
    /// the first one's link. No copy of such an answer may be kept, or the next write is never seen; nor is the
    /// redirection a failure.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task KeyOfAMigratingSlot_IsNotKeptFromAnotherServer_SoItsNextWriteIsSeen(bool synchronous)
    {
        const string Key = "migrating";
        var node = Node();
        var cache = node.GetRequiredService<IDistributedCache>();
        var writer = Node().GetRequiredService<IDistributedCache>();
        await cache.SetStringAsync(Key, "v1");
        await WarmAsync(node, Key, synchronous);
        using var metrics = new MetricsRecorder(node);

        // The migration is never finished: the cluster is this test's own.
        var (from, _) = await StartMigrationAsync(Key);
        Assert.StartsWith("-ASK", await _cluster.ServerAt(from.Port).CommandAsync("GET", Ns + Key), StringComparison.Ordinal);

        // Another node writes the key where it now lives (its client follows the ASK), and this node reads it through
        // the slot's old primary, again and again: a read that kept a copy for that primary's link would be the last
        // one to reach Redis.
        await writer.SetStringAsync(Key, "v2");
        await UntilAsync(cache, Key, "v2", synchronous);
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal("v2", synchronous ? cache.GetString(Key) : await cache.GetStringAsync(Key));
            await Task.Delay(10);
        }

        await writer.SetStringAsync(Key, "v3");
        await UntilAsync(cache, Key, "v3", synchronous);
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal("v3", synchronous ? cache.GetString(Key) : await cache.GetStringAsync(Key));
        }

        Assert.Equal(0, metrics.Sum("rc.store.errors"));
    }

    /// <summary>
    /// A primary cut off from the rest of its cluster still answers its link's PING, while the other side may promote a
    /// replica that takes its slots and their writes: once it reports <c>cluster_state:fail</c>, its copies are not
    /// served (its link's heartbeat is <c>CLUSTER INFO</c>), and a read is a miss, as its <c>CLUSTERDOWN</c> is.
    /// </summary>
    [Fact]
    public async Task PrimaryCutOffFromItsCluster_ServesNoCopy()
    {
        const string Key = "cut-off";
        var node = Node();
        var cache = node.GetRequiredService<IDistributedCache>();
        await cache.SetStringAsync(Key, "old");
        await WarmAsync(node, Key);
        var holder = ServerOf(Key);
        var others = Servers.Where(s => s != holder).ToArray();
        foreach (var other in others)
        {
            other.Pause();
        }

        try
        {
            var cut = Stopwatch.StartNew();
            while (await RedisClusterServers.IsOkAsync(holder))
            {
                Assert.True(cut.Elapsed < TimeSpan.FromSeconds(60), "The primary never found itself cut off from its cluster.");
                await Task.Delay(100);
            }

            while (await cache.GetStringAsync(Key) is not null)
            {
                Assert.True(cut.Elapsed < TimeSpan.FromSeconds(60), "A primary cut off from its cluster kept having its copy served.");
                await Task.Delay(20);
            }
        }
        finally
        {
            foreach (var other in others)
            {
                other.Resume();
            }
        }
    }

    /// <summary>
    /// Once a slot has moved, its old primary answers MOVED until the slot maps learn of the move: that read is answered
    /// by the new primary and counts no failure. After an asynchronous one, the key is kept again, from the new
    /// primary's link.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task KeyOfAMovedSlot_IsReadFromItsNewPrimary_AndKeptFromThereAgain(bool synchronous)
    {
        const string Key = "moved";
        var node = Node();
        var cache = node.GetRequiredService<IDistributedCache>();
        var writer = Node().GetRequiredService<IDistributedCache>();
        await cache.SetStringAsync(Key, "v1");
        await WarmAsync(node, Key, synchronous);

        // The slot moves, its key with it, and the move is told to every primary (the new owner first).
        var (from, to) = await StartMigrationAsync(Key);
        var slot = HashSlot.Of(Ns + Key).ToString(CultureInfo.InvariantCulture);
        foreach (var primary in (await RedisClusterServers.NodesAsync(_cluster.Nodes[0])).Where(static n => n.IsPrimary).OrderBy(p => p.Id == to.Id ? 0 : p.Id == from.Id ? 1 : 2))
        {
            Assert.StartsWith("+OK", await _cluster.ServerAt(primary.Port).CommandAsync("CLUSTER", "SETSLOT", slot, "NODE", to.Id), StringComparison.Ordinal);
        }

        Assert.StartsWith("-MOVED", await _cluster.ServerAt(from.Port).CommandAsync("GET", Ns + Key), StringComparison.Ordinal);

        // The copy of v1 went with MIGRATE's delete: the next read goes to Redis, through the slot's old primary.
        await Eventually.TrueAsync(() => Task.FromResult(Near(node).Count == 0));
        using var metrics = new MetricsRecorder(node);
        await writer.SetStringAsync(Key, "v2");
        Assert.Equal("v2", synchronous ? cache.GetString(Key) : await cache.GetStringAsync(Key));
        if (!synchronous)
        {
            // The client learned the move from that MOVED, and this node's slot map with it. (A synchronous read
            // teaches only the blocking client, whose map the slot map does not follow: its copies wait for the client.)
            await WarmAsync(node, Key);
        }

        await writer.SetStringAsync(Key, "v3");
        await UntilAsync(cache, Key, "v3", synchronous);
        Assert.Equal(0, metrics.Sum("rc.store.errors"));
    }

    /// <summary>
    /// Starts moving <paramref name="key"/>'s hash slot from its primary to another, as an operator's reshard does
    /// (<c>CLUSTER SETSLOT ... IMPORTING</c>, <c>MIGRATING</c>), and moves the key (<c>MIGRATE</c>, which deletes it on
    /// the first primary): that primary answers ASK for it from then on.
    /// </summary>
    private async Task<(ClusterNode From, ClusterNode To)> StartMigrationAsync(string key)
    {
        var slot = HashSlot.Of(Ns + key);
        var primaries = (await RedisClusterServers.NodesAsync(_cluster.Nodes[0])).Where(static n => n.IsPrimary).ToArray();
        var from = primaries.Single(p => p.Owns(slot));
        var to = primaries.First(p => p.Id != from.Id);
        var source = _cluster.ServerAt(from.Port);
        var number = slot.ToString(CultureInfo.InvariantCulture);
        Assert.StartsWith("+OK", await _cluster.ServerAt(to.Port).CommandAsync("CLUSTER", "SETSLOT", number, "IMPORTING", from.Id), StringComparison.Ordinal);
        Assert.StartsWith("+OK", await source.CommandAsync("CLUSTER", "SETSLOT", number, "MIGRATING", to.Id), StringComparison.Ordinal);
        Assert.StartsWith("+OK", await source.CommandAsync("MIGRATE", "127.0.0.1", to.Port.ToString(CultureInfo.InvariantCulture), Ns + key, "0", "5000"), StringComparison.Ordinal);
        return (from, to);
    }
}
