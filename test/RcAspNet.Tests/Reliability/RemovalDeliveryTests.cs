using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using RcAspNet.Caching;
using RcAspNet.Stores;
using RcAspNet.Stores.Redis;
using RcAspNet.Tests.Infrastructure;
using Xunit.Abstractions;

namespace RcAspNet.Tests.Reliability;

/// <summary>
/// Removals made while a server cannot take them, on real redis-server processes: frozen, killed with its data on disk
/// and restarted from it, restarted from a snapshot that predates removals it had acknowledged, or sent more removals
/// than the bound keeps; on one server, three shards and a cluster, with the near cache off and on. A blog's worth of
/// entries is edited as the sample edits it (tags invalidated, entries deleted, replaced, removed synchronously), then
/// every edited entry is read back through every read path while the fault lasts and once the server serves again:
/// none may read as it was before the edit.
/// </summary>
public sealed class RemovalDeliveryTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan OperationTimeout = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private readonly LogRecorder _logs = new();
    private Fleet? _fleet;

    public static TheoryData<FleetKind, bool> AllFleets => new()
    {
        { FleetKind.Redis, false }, { FleetKind.Redis, true },
        { FleetKind.Shards, false }, { FleetKind.Shards, true },
        { FleetKind.Cluster, false }, { FleetKind.Cluster, true },
    };

    /// <summary>The fleets whose servers a test restarts in place (a cluster node restarted alone is a failover's business: <see cref="ClusterFailoverToAReplicaThatMissedRemovals_ServesNoneOfThem"/>).</summary>
    public static TheoryData<FleetKind, bool> ServerFleets => new()
    {
        { FleetKind.Redis, false }, { FleetKind.Redis, true },
        { FleetKind.Shards, false }, { FleetKind.Shards, true },
    };

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_fleet is not null)
        {
            await _fleet.DisposeAsync();
        }
    }

    [Theory]
    [MemberData(nameof(AllFleets))]
    public async Task EditsDuringAFreeze_AreNeverServedStale(FleetKind kind, bool near)
    {
        _fleet = await Fleet.StartAsync(kind);
        await using var services = Services(near);
        var blog = new Blog(services);
        await blog.FillAsync();

        _fleet.Victim.Pause();
        long pending;
        int staleDuring;
        try
        {
            pending = await blog.EditAsync();
            staleDuring = await blog.StaleAsync();
        }
        finally
        {
            _fleet.Victim.Resume();
        }

        var back = await ServingAgainAsync(services, blog);
        var staleAfter = await blog.StaleAsync();
        output.WriteLine($"{kind}, near cache {(near ? "on" : "off")}: {pending} removals kept during the freeze; stale reads {staleDuring} during it, {staleAfter} after; served again {back.TotalMilliseconds:0} ms after the thaw");
        Assert.True(pending > 0, "The frozen server was sent no removal: the test froze nothing that was edited.");
        Assert.Equal(0, staleDuring);
        Assert.Equal(0, staleAfter);
        Assert.Contains(_logs.Records, static r => r.Id.Id == 106);
    }

    [Theory]
    [MemberData(nameof(ServerFleets))]
    public async Task EditsWhileADurableServerIsDown_AreNeverServedStale_AfterItRestartsFromItsFile(FleetKind kind, bool near)
    {
        _fleet = await Fleet.StartAsync(kind, "--appendonly", "yes");
        await using var services = Services(near);
        var blog = new Blog(services);
        await blog.FillAsync();

        _fleet.Victim.Kill();
        var pending = await blog.EditAsync();
        var staleDuring = await blog.StaleAsync();
        await _fleet.Victim.RestartAsync();
        var restored = await _fleet.Victim.CommandAsync("DBSIZE");
        var back = await ServingAgainAsync(services, blog);
        var staleAfter = await blog.StaleAsync();
        output.WriteLine($"{kind}, near cache {(near ? "on" : "off")}: {pending} removals kept while it was down; it came back from its append-only file with {restored.Trim()} keys; stale reads {staleDuring} while it was down, {staleAfter} after; served again {back.TotalMilliseconds:0} ms after the restart");
        Assert.True(pending > 0, "The server that was down was sent no removal.");
        Assert.Equal(0, staleDuring);
        Assert.Equal(0, staleAfter);
    }

    [Theory]
    [MemberData(nameof(ServerFleets))]
    public async Task RemovalsAServerAcknowledged_AndLostInARestartFromDisk_AreDeliveredAgain(FleetKind kind, bool near)
    {
        _fleet = await Fleet.StartAsync(kind);
        await using var services = Services(near, Acknowledging);
        var blog = new Blog(services);
        await blog.FillAsync();
        await _fleet.Victim.CommandAsync("SAVE");

        // Every removal reaches its server and is acknowledged; then the server restarts from a snapshot taken before.
        Assert.Equal(0, await blog.EditAsync());
        Assert.Equal(0, await blog.StaleAsync());
        _fleet.Victim.Kill();
        await _fleet.Victim.RestartAsync();
        var restored = await _fleet.Victim.CommandAsync("DBSIZE");
        var back = await ServingAgainAsync(services, blog);
        var staleAfter = await blog.StaleAsync();
        var replayed = _logs.Records.Where(static r => r.Id.Id == 108).Select(static r => r.Message).ToArray();
        output.WriteLine($"{kind}, near cache {(near ? "on" : "off")}: restarted from its snapshot with {restored.Trim()} keys; {string.Join(" / ", replayed)}; stale reads after {staleAfter}; served again {back.TotalMilliseconds:0} ms after the restart");
        Assert.NotEmpty(replayed);
        Assert.Equal(0, staleAfter);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task RemovalsAServerAcknowledged_AndLostInARestartFromDisk_AreDeliveredAgain_HoweverLongItWasDown(bool near)
    {
        // The replay window (30 s) reaches back from when the server was lost, not from when it returns: on a fake clock,
        // it returns ten minutes after it was killed, and its circuit's recoveries run as the clock moves.
        var clock = new ManualTimeProvider(DateTimeOffset.UtcNow);
        _fleet = await Fleet.StartAsync(FleetKind.Shards);
        await using var services = Services(near, Acknowledging, clock);
        var blog = new Blog(services);
        await blog.FillAsync();
        await _fleet.Victim.CommandAsync("SAVE");
        Assert.Equal(0, await blog.EditAsync());
        _fleet.Victim.Kill();
        await WaitAsync(async () => await HealthAsync(services) != HealthStatus.Healthy, "the victim's loss to be noticed");
        clock.Advance(TimeSpan.FromMinutes(10));
        await _fleet.Victim.RestartAsync();

        await WaitAsync(
            async () =>
            {
                clock.Advance(TimeSpan.FromMilliseconds(500));
                return await HealthAsync(services) == HealthStatus.Healthy && await blog.UneditedHitsAsync() == Blog.Posts;
            },
            "every server to serve again");
        var staleAfter = await blog.StaleAsync();
        var replayed = _logs.Records.Where(static r => r.Id.Id == 108).Select(static r => r.Message).ToArray();
        output.WriteLine($"near cache {(near ? "on" : "off")}: {string.Join(" / ", replayed)}; stale reads after {staleAfter}");
        Assert.NotEmpty(replayed);
        Assert.Equal(0, staleAfter);
    }

    [Fact]
    public async Task TooManyTagRegistrationsToRemember_ClearEveryNamespaceOnEveryServer_UnderFailureModeThrowToo()
    {
        // Ten registrations are remembered (ten times PendingRemovalLimit); far more are made under the victim's tags, in
        // two namespaces (the default cache's and a named cache's). Under FailureMode=Throw a clear that reaches the
        // victim throws, after keeping the clear for it: the next namespace must be cleared all the same.
        _fleet = await Fleet.StartAsync(FleetKind.Shards);
        var pagesNamespace = SharedRedis.UniqueNamespace();
        await using var services = Services(near: false, o =>
        {
            o.FailureMode = RcFailureMode.Throw;
            o.PendingRemovalLimit = 1;
            o.Caches["pages"] = new RcNamedCacheOptions { Namespace = pagesNamespace };
        });
        IRcCache[] caches = [services.GetRequiredService<IRcCache>(), services.GetRequiredKeyedService<IRcCache>("pages")];
        const int Entries = 40;
        await _fleet.Victim.CommandAsync("SAVE");
        foreach (var cache in caches)
        {
            for (var i = 0; i < Entries; i++)
            {
                await PatientlyAsync(() => cache.SetAsync($"entry:{i}", $"old {i}", new RcEntryOptions { Tags = [$"post:{i}"] }).AsTask());
            }
        }

        _fleet.Victim.Kill();
        foreach (var cache in caches)
        {
            for (var i = 0; i < Entries; i++)
            {
                try
                {
                    await cache.InvalidateTagAsync($"post:{i}");
                }
                catch (RcCacheException)
                {
                    // Kept for the victim, and said so.
                }
            }
        }

        await _fleet.Victim.RestartAsync();
        await WaitAsync(async () => await HealthAsync(services) == HealthStatus.Healthy && _logs.Records.Any(static r => r.Id.Id == 108), "the victim to serve again");
        var stale = 0;
        foreach (var cache in caches)
        {
            for (var i = 0; i < Entries; i++)
            {
                stale += (await PatientlyAsync(() => cache.GetAsync<string>($"entry:{i}").AsTask()))?.StartsWith("old", StringComparison.Ordinal) == true ? 1 : 0;
            }
        }

        output.WriteLine($"{string.Join(" / ", _logs.Records.Where(static r => r.Id.Id == 108).Select(static r => r.Message))}; stale reads after {stale}");
        Assert.Contains(_logs.Records, static r => r.Id.Id == 108 && r.Message.Contains("and -1 entries", StringComparison.Ordinal));
        Assert.Equal(0, stale);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task TagRegistrationsAServerAcknowledged_AndLostInARestartFromDisk_LeaveNoEntryItsInvalidationMisses(bool near)
    {
        _fleet = await Fleet.StartAsync(FleetKind.Shards);
        await using var services = Services(near);
        var blog = new Blog(services);

        // The victim's snapshot predates every entry: the registrations of entries under its tags, which it acknowledges
        // now, are what a server killed before its next fsync loses. Entries of those tags live on the other shards.
        await _fleet.Victim.CommandAsync("SAVE");
        await blog.FillAsync();
        _fleet.Victim.Kill();
        var pending = await blog.EditAsync();
        var staleDuring = await blog.StaleAsync();
        await _fleet.Victim.RestartAsync();

        // Its invalidations are delivered to a tag set that lost those members; the entries must go all the same.
        await WaitAsync(async () => await HealthAsync(services) == HealthStatus.Healthy && _logs.Records.Any(static r => r.Id.Id == 108), "the victim to serve again");
        var staleAfter = await blog.StaleAsync();
        var replayed = _logs.Records.Where(static r => r.Id.Id == 108).Select(static r => r.Message).ToArray();
        output.WriteLine($"near cache {(near ? "on" : "off")}: {pending} removals pending while the victim was down; {string.Join(" / ", replayed)}; stale reads while down {staleDuring}, after {staleAfter}");
        Assert.True(pending > 0, "No removal was kept for the victim: the test lost nothing.");
        Assert.Equal(0, staleDuring);
        Assert.Equal(0, staleAfter);
    }

    [Theory]
    [MemberData(nameof(AllFleets))]
    public async Task MoreRemovalsThanTheBound_ClearTheServersNamespace_BeforeItServesAgain(FleetKind kind, bool near)
    {
        _fleet = await Fleet.StartAsync(kind);
        await using var services = Services(near, static o => o.PendingRemovalLimit = 5);
        using var metrics = new MetricsRecorder(services);
        var blog = new Blog(services);
        await blog.FillAsync();

        _fleet.Victim.Pause();
        long pending;
        try
        {
            pending = await blog.EditAsync();
        }
        finally
        {
            _fleet.Victim.Resume();
        }

        await WaitAsync(async () => await HealthAsync(services) == HealthStatus.Healthy, "the thawed server to serve again");
        var staleAfter = await blog.StaleAsync();
        var kept = await blog.UneditedHitsAsync();
        output.WriteLine($"{kind}, near cache {(near ? "on" : "off")}: {pending} removals reported pending, the bound is 5; {metrics.Sum("rc.removals.namespaces_cleared")} namespace clears; {kept} of {Blog.Posts} unedited entries left; stale reads after {staleAfter}");
        Assert.Equal(0, staleAfter);
        Assert.Contains(_logs.Records, static r => r.Id.Id == 107);
        Assert.True(metrics.Sum("rc.removals.namespaces_cleared") >= 1);

        // The clear took the server's unedited entries too; those of other servers are still there.
        Assert.InRange(kept, kind == FleetKind.Redis ? 0 : 1, Blog.Posts - 1);
    }

    [Theory]
    [InlineData(FleetKind.Redis)]
    [InlineData(FleetKind.Shards)]
    public async Task ClearOfAServerThatIsDown_IsKeptAndDelivered_NotThrown(FleetKind kind)
    {
        _fleet = await Fleet.StartAsync(kind, "--appendonly", "yes");
        await using var services = Services(near: false);
        var cache = services.GetRequiredService<IRcCache>();
        await cache.SetManyAsync(Enumerable.Range(0, 30).Select(static i => new KeyValuePair<string, int>($"c{i}", i)).ToArray());

        _fleet.Victim.Kill();
        var cleared = await cache.ClearAsync();
        await _fleet.Victim.RestartAsync();
        await WaitAsync(async () => await HealthAsync(services) == HealthStatus.Healthy, "the restarted server to serve again");
        var left = await _fleet.Victim.CommandAsync("EVAL", "return #redis.call('KEYS', ARGV[1])", "0", cache.Namespace + "*");
        output.WriteLine($"{kind}: the clear removed {cleared.Removed} and kept {cleared.Pending} for the server that was down; its keys left after it came back: {left.Trim()}");
        Assert.True(cleared.Pending >= 1);
        Assert.Equal(":0", left.Trim());
        Assert.All(await cache.GetManyAsync<int?>([.. Enumerable.Range(0, 30).Select(static i => $"c{i}")]), static v => Assert.Null(v));
    }

    [Fact]
    public async Task TagInvalidatedAfterAServersRemovalsPassedTheirBound_StillRemovesItsEntriesOnOtherServers()
    {
        _fleet = await Fleet.StartAsync(FleetKind.Shards);
        await using var services = Services(near: false, static o => o.PendingRemovalLimit = 3);
        var cache = services.GetRequiredService<IRcCache>();
        var store = (ShardedStore)services.GetRequiredService<CacheRegistry>().Stores[0];
        var victim = store.Router.Shards.ToList().IndexOf("cache02");

        // A tag whose bookkeeping lives on the shard that will be frozen; its entries on every shard.
        var tag = Enumerable.Range(0, 1000).Select(static i => $"t{i}").First(t => store.Router.GetShard(cache.Namespace + "{rc-tag:" + t + "}") == victim);
        var tagged = Enumerable.Range(0, 30).Select(static i => $"e{i}").ToArray();
        await cache.SetManyAsync([.. tagged.Select(static k => new KeyValuePair<string, string>(k, "old"))], new RcEntryOptions { Tags = [tag] });
        var others = tagged.Where(k => store.Router.GetShard(cache.Namespace + k) != victim).ToArray();
        Assert.NotEmpty(others);

        // The frozen shard's removals pass the bound (a clear of it is kept), and only then is the tag invalidated.
        _fleet.Victim.Pause();
        try
        {
            var onVictim = Enumerable.Range(0, 1000).Select(static i => $"d{i}").Where(k => store.Router.GetShard(cache.Namespace + k) == victim).Take(5).ToArray();
            Assert.True((await cache.DeleteManyAsync(onVictim)).Pending > 0);
            Assert.Equal(1, (await cache.InvalidateTagAsync(tag)).Pending);
            Assert.All(await cache.GetManyAsync<string>(others), static v => Assert.Null(v));
        }
        finally
        {
            _fleet.Victim.Resume();
        }

        await WaitAsync(async () => await HealthAsync(services) == HealthStatus.Healthy, "the thawed shard to serve again");
        Assert.Contains(_logs.Records, static r => r.Id.Id == 107);
        Assert.All(await cache.GetManyAsync<string>(tagged), static v => Assert.Null(v));
    }

    [Fact]
    public async Task TagInvalidationThatThrowsMidway_KeepsWhatIsLeft_AndEveryEntryGoes()
    {
        _fleet = await Fleet.StartAsync(FleetKind.Shards);
        await using var services = Services(near: false, static o => o.FailureMode = RcFailureMode.Throw);
        var cache = services.GetRequiredService<IRcCache>();

        // More members than one page, on every shard.
        var keys = Enumerable.Range(0, 2500).Select(static i => $"m{i}").ToArray();
        await PatientlyAsync(() => cache.SetManyAsync([.. keys.Select(static k => new KeyValuePair<string, int>(k, 1))], new RcEntryOptions { Tags = ["many"] }).AsTask());
        _fleet.Victim.Pause();
        try
        {
            await Assert.ThrowsAsync<RcCacheException>(() => cache.InvalidateTagAsync("many").AsTask());
        }
        finally
        {
            _fleet.Victim.Resume();
        }

        await WaitAsync(async () => await HealthAsync(services) == HealthStatus.Healthy, "every shard to serve again");
        var left = 0;
        foreach (var server in _fleet.Servers)
        {
            left += int.Parse((await server.CommandAsync("EVAL", "return #redis.call('KEYS', ARGV[1])", "0", cache.Namespace + "m*")).Trim().TrimStart(':'), CultureInfo.InvariantCulture);
        }

        output.WriteLine($"entries of the tag left on the shards after the shard came back: {left} of {keys.Length}");
        Assert.Equal(0, left);
    }

    [Fact]
    public async Task TaggedEntriesOfAWriteAnotherServerFailed_UnderFailureModeThrow_AreNotLeftOutOfTheirTag()
    {
        _fleet = await Fleet.StartAsync(FleetKind.Shards);
        await using var services = Services(near: false, static o => o.FailureMode = RcFailureMode.Throw);
        var cache = services.GetRequiredService<IRcCache>();
        var store = (ShardedStore)services.GetRequiredService<CacheRegistry>().Stores[0];
        var victim = store.Router.Shards.ToList().IndexOf("cache02");

        // The tag's bookkeeping lives on a shard that stays up; its entries on every shard.
        var tag = Enumerable.Range(0, 1000).Select(static i => $"t{i}").First(t => store.Router.GetShard(cache.Namespace + "{rc-tag:" + t + "}") != victim);
        var keys = Enumerable.Range(0, 30).Select(static i => $"e{i}").ToArray();
        Assert.Contains(keys, k => store.Router.GetShard(cache.Namespace + k) == victim);
        Assert.Contains(keys, k => store.Router.GetShard(cache.Namespace + k) != victim);

        // One shard fails the write: the others wrote their part, and the caller hears of the failure.
        _fleet.Victim.Pause();
        try
        {
            await Assert.ThrowsAsync<RcCacheException>(() => cache.SetManyAsync([.. keys.Select(static k => new KeyValuePair<string, string>(k, "before the edit"))], new RcEntryOptions { Tags = [tag] }).AsTask());
        }
        finally
        {
            _fleet.Victim.Resume();
        }

        await WaitAsync(async () => await HealthAsync(services) == HealthStatus.Healthy, "the thawed shard to serve again");
        await PatientlyAsync(() => cache.InvalidateTagAsync(tag).AsTask());
        Assert.All(await PatientlyAsync(() => cache.GetManyAsync<string>(keys).AsTask()), static v => Assert.Null(v));
    }

    [Fact]
    public async Task ATagInvalidatedAgain_WhileAnInvalidationTheServerAppliedButNeverAcknowledgedIsKept_LosesNeitherInvalidation()
    {
        // This node's circuit recovers only as its clock moves, so what it keeps stays kept until the test says.
        var clock = new ManualTimeProvider(DateTimeOffset.UtcNow);
        _fleet = await Fleet.StartAsync(FleetKind.Redis);
        var keyspace = SharedRedis.UniqueNamespace();
        await using var node = Services(near: false, o => o.Namespace = keyspace, clock);
        var cache = node.GetRequiredService<IRcCache>();
        var store = (RedisStore)node.GetRequiredService<CacheRegistry>().Stores[0];
        var post = new RcEntryOptions { Tags = ["post:1"] };
        var version = keyspace + "{rc-tag:post:1}:version";
        await cache.SetAsync("page", "first edition", post);

        // The first invalidation reaches the frozen server and times out here: kept, though the server applies it once
        // it thaws. The server thaws once this node's first recovery failed, so that the next waits for its clock.
        _fleet.Victim.Pause();
        try
        {
            Assert.Equal(1, (await cache.InvalidateTagAsync("post:1")).Pending);
            await WaitAsync(() => Task.FromResult(_logs.Records.Any(static r => r.Id.Id == 109)), "this node's first recovery to fail");
        }
        finally
        {
            _fleet.Victim.Resume();
        }

        await WaitAsync(async () => (await _fleet.Victim.CommandAsync("EXISTS", version)).Trim() == ":1", "the thawed server to apply the first invalidation");
        Assert.True(store.PendingRemovals > 0, "The first invalidation was delivered before the test could invalidate again.");

        // Another node, started after the thaw, renders the post's summary after the first invalidation; then the post
        // changes again, and this node invalidates its tag again while the first invalidation is still kept.
        await using var other = Services(near: false, o => o.Namespace = keyspace);
        var otherCache = other.GetRequiredService<IRcCache>();
        await otherCache.SetAsync("summary", "second edition", post);
        Assert.Equal("second edition", await otherCache.GetAsync<string>("summary"));
        Assert.True((await cache.InvalidateTagAsync("post:1")).Pending > 0);

        await WaitAsync(
            async () =>
            {
                clock.Advance(TimeSpan.FromMilliseconds(500));
                return await HealthAsync(node) == HealthStatus.Healthy && store.PendingRemovals == 0;
            },
            "this node to deliver what it kept");
        Assert.Null(await otherCache.GetAsync<string>("page"));
        Assert.Null(await otherCache.GetAsync<string>("summary"));
    }

    [Fact]
    public async Task RefusedConnections_OpenTheCircuitAtTheThreshold_AndAKeptRemovalHoldsTheServerUntilItIsDelivered()
    {
        var port = RedisServer.FreePort();
        await using var services = TestServices.Build(o =>
        {
            (o.Store, o.Redis, o.Namespace) = (RcStoreKind.Redis, $"127.0.0.1:{port},connectTimeout=200", "refused:");
            o.OperationTimeout = OperationTimeout;
            o.CircuitBreakerThreshold = 3;
            o.CircuitBreakDuration = TimeSpan.FromMilliseconds(500);
        }, s => s.AddHealthChecks().AddRcHealthCheck());
        var cache = services.GetRequiredService<IRcCache>();
        var store = (RedisStore)services.GetRequiredService<CacheRegistry>().Stores[0];

        for (var refused = 1; refused < 3; refused++)
        {
            Assert.Null(await cache.GetAsync<string>("k"));
            Assert.Equal(CircuitState.Closed, store.CircuitState);
        }

        Assert.Null(await cache.GetAsync<string>("k"));
        Assert.Equal(CircuitState.Open, store.CircuitState);
        Assert.Equal(new RcRemovalResult(0, 1), await cache.DeleteAsync("removed"));
        Assert.Equal(1, store.PendingRemovals);

        await using var server = await RedisServer.StartOnAsync(port);
        await WaitAsync(async () => await HealthAsync(services) == HealthStatus.Healthy, "the server that started late to serve");
        Assert.Equal(0, store.PendingRemovals);
        var stats = await server.CommandStatsAsync();
        Assert.True(stats.GetValueOrDefault("del") + stats.GetValueOrDefault("unlink") >= 1, "The kept removal never reached the server.");
    }

    [Fact]
    public async Task RemovalsKeptBeforeTheStoreKnewItServesACluster_HoldThePrimariesThatOwnTheirKeys_AndAreDelivered()
    {
        // The cluster does not answer when the node starts: its removals are kept by the stand-in node that serves every
        // key until the cluster's layout is known. Once it is, they belong to the primaries that own their keys.
        await using var cluster = await RedisClusterServers.StartAsync();
        var ns = SharedRedis.UniqueNamespace();
        var keys = Enumerable.Range(0, 12).Select(static i => $"post:{i}").ToArray();
        await using var reader = TestServices.Build(o => (o.Store, o.Redis, o.Namespace) = (RcStoreKind.Redis, cluster.Configuration, ns));
        var truth = reader.GetRequiredService<IRcCache>();
        foreach (var key in keys)
        {
            await truth.SetAsync(key, "old");
        }

        // The clock stands still: the stand-in node's recovery does not come round by itself.
        var clock = new ManualTimeProvider(DateTimeOffset.UtcNow);
        ServiceProvider services;
        foreach (var node in cluster.Nodes)
        {
            node.Pause();
        }

        try
        {
            services = TestServices.Build(
                o => (o.Store, o.Redis, o.Namespace, o.OperationTimeout) = (RcStoreKind.Redis, cluster.Configuration, ns, OperationTimeout),
                s => s.AddSingleton<TimeProvider>(clock));
            foreach (var key in keys)
            {
                Assert.True((await services.GetRequiredService<IRcCache>().DeleteAsync(key)).Pending > 0);
            }
        }
        finally
        {
            foreach (var node in cluster.Nodes)
            {
                node.Resume();
            }
        }

        await using var _ = services;
        var cache = services.GetRequiredService<IRcCache>();
        var store = (RedisStore)services.GetRequiredService<CacheRegistry>().Stores[0];
        await Eventually.TrueAsync(() => Task.FromResult(store.IsCluster), Deadline);
        foreach (var key in keys)
        {
            Assert.Null(await cache.GetAsync<string>(key));
        }

        await Eventually.TrueAsync(
            async () =>
            {
                clock.Advance(TimeSpan.FromSeconds(1));
                foreach (var key in keys)
                {
                    if (await truth.GetAsync<string>(key) is not null)
                    {
                        return false;
                    }
                }

                return true;
            },
            Deadline);
    }

    [Fact]
    public async Task ARemovalKeptForTheStandInAfterTheClusterIsKnown_HoldsThePrimaryThatOwnsItsKey_AtOnce()
    {
        await using var cluster = await RedisClusterServers.StartAsync();

        // The clock stands still: no recovery comes round by itself to move what a node keeps.
        var clock = new ManualTimeProvider(DateTimeOffset.UtcNow);
        await using var services = TestServices.Build(
            o => (o.Store, o.Redis, o.Namespace, o.OperationTimeout) = (RcStoreKind.Redis, cluster.Configuration, SharedRedis.UniqueNamespace(), TimeSpan.FromSeconds(10)),
            s => s.AddSingleton<TimeProvider>(clock));
        var cache = services.GetRequiredService<IRcCache>();
        var registry = services.GetRequiredService<CacheRegistry>();
        var store = (RedisStore)registry.Stores[0];
        await cache.SetAsync("post:1", "old");
        Assert.True(store.IsCluster);
        Assert.Equal("old", await cache.GetAsync<string>("post:1"));

        // A removal routed before the slot map was known, whose command failed once it was: kept for the stand-in node,
        // it holds the primary that serves its key, not a node that serves nothing now.
        store.Calls.Keep(store.StandIn, Removal.OfKey(registry.Default.NamespacedKey("post:1")));
        Assert.Null(await cache.GetAsync<string>("post:1"));
        Assert.Equal(0, store.StandIn.Removals.Size);

        // And the primary gets it: once nothing is kept, the key is gone from the server, not only held back.
        await Eventually.TrueAsync(
            () =>
            {
                clock.Advance(TimeSpan.FromSeconds(1));
                return Task.FromResult(store.PendingRemovals == 0);
            },
            Deadline);
        Assert.Null(await cache.GetAsync<string>("post:1"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ClusterFailoverToAReplicaThatMissedRemovals_ServesNoneOfThem(bool near)
    {
        await using var cluster = await RedisClusterServers.StartWithReplicasAsync(TimeSpan.FromSeconds(2));
        await using var services = TestServices.Build(o =>
        {
            (o.Store, o.Redis, o.Namespace, o.NearCache.Enabled) = (RcStoreKind.Redis, cluster.Configuration, SharedRedis.UniqueNamespace(), near);
            o.OperationTimeout = OperationTimeout;
            o.CircuitBreakerThreshold = 3;
            o.CircuitBreakDuration = TimeSpan.FromSeconds(1);
        }, s => s.AddLogging(b => b.AddProvider(_logs).SetMinimumLevel(LogLevel.Debug)).AddHealthChecks().AddRcHealthCheck());
        var blog = new Blog(services);
        await blog.FillAsync();
        var view = await RedisClusterServers.NodesAsync(cluster.Nodes[0]);
        var primary = view.First(static n => n.IsPrimary);
        var replica = cluster.ServerAt(view.Single(n => n.PrimaryId == primary.Id).Port);
        await WaitAsync(() => CaughtUpAsync(cluster.ServerAt(primary.Port)), "the replica to have every write");

        // The replica stops reading from its primary, and a value larger than loopback sockets buffer (a few megabytes)
        // fills the stream to it, so that what follows stays in the primary's own output buffer. The primary
        // acknowledges the removals, then dies with them.
        replica.Pause();
        var junk = Enumerable.Range(0, 1000).Select(static n => $"junk{n}").First(k => primary.Owns(HashSlot.Of(k)));
        await cluster.ServerAt(primary.Port).CommandAsync("SET", junk, new string('x', 32 * 1024 * 1024));
        var pending = await blog.EditAsync();
        var primaryKeys = await cluster.ServerAt(primary.Port).CommandAsync("DBSIZE");
        cluster.ServerAt(primary.Port).Kill();
        replica.Resume();
        var replicaKeys = await replica.CommandAsync("DBSIZE");
        await replica.CommandAsync("CLUSTER", "FAILOVER", "TAKEOVER");

        // Until the promoted replica serves this node again, and after, no edited entry reads as it was.
        var stale = 0;
        var watch = Stopwatch.StartNew();
        while (await blog.UneditedHitsAsync() < Blog.Posts)
        {
            stale += await blog.StaleAsync();
            Assert.True(watch.Elapsed < Deadline, "The promoted replica's keys did not come back.");
            await Task.Delay(100);
        }

        stale += await blog.StaleAsync();
        output.WriteLine($"near cache {(near ? "on" : "off")}: {pending} removals pending; the primary held {primaryKeys.Trim()} keys after them, its replica {replicaKeys.Trim()}; every key served again {watch.ElapsedMilliseconds} ms after the takeover; {string.Join(" / ", _logs.Records.Where(static r => r.Id.Id == 108).Select(static r => r.Message))}; stale reads {stale}");
        Assert.True(ParseInteger(replicaKeys) > ParseInteger(primaryKeys), "The replica did not miss the removals: the test lost nothing.");
        Assert.Equal(0, stale);
    }

    /// <summary>
    /// As <see cref="ClusterFailoverToAReplicaThatMissedRemovals_ServesNoneOfThem"/>, for an application that only ever
    /// calls synchronously, through the library's own connections: nothing asynchronous connected the multiplexer before
    /// the replica took over. No removed entry is read, before the takeover or after it.
    /// </summary>
    [Fact]
    public async Task ClusterFailoverToAReplicaThatMissedRemovals_InAnAppThatCallsOnlySynchronously_ServesNoneOfThem()
    {
        await using var cluster = await RedisClusterServers.StartWithReplicasAsync(TimeSpan.FromSeconds(2));
        var ns = SharedRedis.UniqueNamespace();
        await using var services = TestServices.Build(o =>
        {
            (o.Store, o.Redis, o.Namespace) = (RcStoreKind.Redis, cluster.Configuration, ns);
            o.OperationTimeout = TimeSpan.FromSeconds(5);
            o.CircuitBreakerThreshold = 3;
            o.CircuitBreakDuration = TimeSpan.FromSeconds(1);
        });
        var cache = services.GetRequiredService<IDistributedCache>();
        var view = await RedisClusterServers.NodesAsync(cluster.Nodes[0]);
        var primary = view.First(static n => n.IsPrimary);
        var replica = cluster.ServerAt(view.Single(n => n.PrimaryId == primary.Id).Port);

        // Keys of that primary's slots: edited ones, and others never edited (they say when it serves again).
        var keys = Enumerable.Range(0, 5000).Select(static i => $"post:{i}").Where(k => primary.Owns(HashSlot.Of(ns + k))).Take(40).ToArray();
        var (edited, unedited) = (keys[..20], keys[20..]);

        // Written again until every entry reads back (a loaded machine may time a call out).
        await WaitAsync(
            () =>
            {
                foreach (var key in keys)
                {
                    cache.SetString(key, "old");
                }

                return Task.FromResult(keys.All(key => cache.GetString(key) == "old"));
            },
            "every entry to read back");
        await WaitAsync(() => CaughtUpAsync(cluster.ServerAt(primary.Port)), "the replica to have every write");

        // As in the test above: the replica stops reading, the primary acknowledges the removals, then dies with them.
        replica.Pause();
        var junk = Enumerable.Range(0, 1000).Select(static n => $"junk{n}").First(k => primary.Owns(HashSlot.Of(k)));
        await cluster.ServerAt(primary.Port).CommandAsync("SET", junk, new string('x', 32 * 1024 * 1024));
        foreach (var key in edited)
        {
            cache.Remove(key);
        }

        Assert.All(edited, key => Assert.Null(cache.GetString(key)));

        // Nothing asynchronous has connected the multiplexer: the store routes every key to its stand-in node.
        Assert.Null(((RedisStore)services.GetRequiredService<CacheRegistry>().Stores[0]).RoutedTo(ns + keys[0]));
        var primaryKeys = await cluster.ServerAt(primary.Port).CommandAsync("DBSIZE");
        cluster.ServerAt(primary.Port).Kill();
        replica.Resume();
        var replicaKeys = await replica.CommandAsync("DBSIZE");
        await replica.CommandAsync("CLUSTER", "FAILOVER", "TAKEOVER");

        // Until the promoted replica serves this node again, and after, no removed entry reads as it was. It serves again
        // when what is written to it reads back (the recent writes delivered to it again remove the entries not edited).
        var stale = 0;
        var watch = Stopwatch.StartNew();
        while (!unedited.All(key => cache.GetString(key) == "old"))
        {
            stale += edited.Count(key => cache.GetString(key) is not null);
            Assert.True(watch.Elapsed < Deadline, "The promoted replica did not serve again.");
            foreach (var key in unedited)
            {
                cache.SetString(key, "old");
            }

            await Task.Delay(100);
        }

        stale += edited.Count(key => cache.GetString(key) is not null);
        output.WriteLine($"the primary held {primaryKeys.Trim()} keys after the removals, its replica {replicaKeys.Trim()}; served again {watch.ElapsedMilliseconds} ms after the takeover; stale reads {stale}");
        Assert.True(ParseInteger(replicaKeys) > ParseInteger(primaryKeys), "The replica did not miss the removals: the test lost nothing.");
        Assert.Equal(0, stale);
    }

    private static long ParseInteger(string reply) => long.Parse(reply.Trim().TrimStart(':'), CultureInfo.InvariantCulture);

    /// <summary>Whether every replica of <paramref name="primary"/> has acknowledged its whole replication stream.</summary>
    private static async Task<bool> CaughtUpAsync(RedisServer primary)
    {
        var info = await primary.CommandAsync("INFO", "replication");
        var offset = info.Split('\n').Single(static l => l.StartsWith("master_repl_offset:", StringComparison.Ordinal)).Split(':')[1].Trim();
        var replicas = info.Split('\n').Where(static l => l.StartsWith("slave", StringComparison.Ordinal) && l.Contains("offset=", StringComparison.Ordinal)).ToArray();
        return replicas.Length > 0 && replicas.All(l => l.Contains($"offset={offset},", StringComparison.Ordinal));
    }

    /// <summary>
    /// For tests whose removals must all be acknowledged before the fault they make: a loaded machine can stall a call
    /// past <see cref="OperationTimeout"/>, which would keep a removal the test takes for delivered.
    /// </summary>
    private static void Acknowledging(RcOptions options) => options.OperationTimeout = TimeSpan.FromSeconds(5);

    private ServiceProvider Services(bool near, Action<RcOptions>? more = null, TimeProvider? clock = null) => TestServices.Build(
        o =>
        {
            _fleet!.Configure(o);
            o.Namespace = SharedRedis.UniqueNamespace();
            o.NearCache.Enabled = near;
            o.OperationTimeout = OperationTimeout;
            o.CircuitBreakerThreshold = 3;
            o.CircuitBreakDuration = TimeSpan.FromSeconds(1);
            more?.Invoke(o);
        },
        s =>
        {
            s.AddLogging(b => b.AddProvider(_logs).SetMinimumLevel(LogLevel.Debug)).AddHealthChecks().AddRcHealthCheck();
            if (clock is not null)
            {
                s.AddSingleton(clock);
            }
        });

    private static async Task<HealthStatus> HealthAsync(ServiceProvider services) =>
        (await services.GetRequiredService<HealthCheckService>().CheckHealthAsync()).Status;

    /// <summary>Waits until every server serves this node again: the health check says so, and every unedited entry is a hit.</summary>
    private static async Task<TimeSpan> ServingAgainAsync(ServiceProvider services, Blog blog)
    {
        var watch = Stopwatch.StartNew();
        await WaitAsync(async () => await HealthAsync(services) == HealthStatus.Healthy && await blog.UneditedHitsAsync() == Blog.Posts, "every server to serve again");
        return watch.Elapsed;
    }

    /// <summary>
    /// A call of a FailureMode=Throw node that the test expects to succeed, made again if it failed: under the tests'
    /// short <see cref="OperationTimeout"/>, a slow moment of a loaded machine fails a call to a healthy server.
    /// </summary>
    private static async Task PatientlyAsync(Func<Task> call) => await PatientlyAsync(async () =>
    {
        await call();
        return true;
    });

    /// <inheritdoc cref="PatientlyAsync(Func{Task})"/>
    private static async Task<T> PatientlyAsync<T>(Func<Task<T>> call)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return await call();
            }
            catch (RcCacheException) when (watch.Elapsed < Deadline)
            {
                await Task.Delay(50);
            }
        }
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, string what)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(watch.Elapsed < Deadline, $"Waited {Deadline.TotalSeconds} s for {what}.");
            await Task.Delay(50);
        }
    }

    /// <summary>
    /// A blog's entries, spread over every server: pages and API answers tagged by post (and the pages by the list), an
    /// index tagged by the list, entries deleted or replaced by key, entries written and removed through the
    /// synchronous IDistributedCache, and unedited entries that show when a server serves again (written as a miss fills
    /// them: a value the application replaced recently is removed again from a server that restarts, to be safe).
    /// </summary>
    private sealed class Blog(IServiceProvider services)
    {
        public const int Posts = 30;
        private readonly IRcCache _cache = services.GetRequiredService<IRcCache>();
        private readonly IDistributedCache _distributed = services.GetRequiredService<IDistributedCache>();

        private static IEnumerable<string> Edited => Enumerable.Range(0, Posts)
            .SelectMany(static i => new[] { $"page:{i}", $"api:{i}", $"deleted:{i}", $"replaced:{i}" })
            .Append("index");

        public async Task FillAsync() =>
            await Eventually.TrueAsync(async () =>
            {
                // Written again until every entry reads back, twice, as visitors would read them (the near cache, when it
                // is on, keeps copies): a call of the fill that a loaded machine times out leaves its entry unwritten.
                await WriteAsync();
                return await OldAsync() == (Posts * 6) + 1 && await OldAsync() == (Posts * 6) + 1;
            });

        private async Task WriteAsync()
        {
            for (var i = 0; i < Posts; i++)
            {
                await _cache.GetOrSetAsync($"page:{i}", _ => ValueTask.FromResult($"old page {i}"), Tagged($"post:{i}", "posts"));
                await _cache.GetOrSetAsync($"api:{i}", _ => ValueTask.FromResult($"old answer {i}"), Tagged($"post:{i}"));
                await _cache.SetAsync($"deleted:{i}", $"old {i}");
                await _cache.SetAsync($"replaced:{i}", $"old {i}");
                await _cache.GetOrSetAsync($"unedited:{i}", _ => ValueTask.FromResult($"unedited {i}"));
                _distributed.Set($"sync:{i}", Encoding.UTF8.GetBytes($"old {i}"), new DistributedCacheEntryOptions());
            }

            await _cache.GetOrSetAsync("index", _ => ValueTask.FromResult("old index"), Tagged("posts"));
        }

        /// <summary>Edits every post as the sample does, and returns how many removals were reported pending.</summary>
        public async Task<long> EditAsync()
        {
            long pending = 0;
            for (var i = 0; i < Posts; i++)
            {
                pending += (await _cache.InvalidateTagAsync($"post:{i}")).Pending;
                pending += (await _cache.DeleteAsync($"deleted:{i}")).Pending;
                await _cache.SetAsync($"replaced:{i}", $"new {i}");
                _distributed.Remove($"sync:{i}");
            }

            return pending + (await _cache.InvalidateTagAsync("posts")).Pending;
        }

        /// <summary>How many edited entries read as they were before the edit, through each read path: one key at a time, many at once, synchronously, and cache-aside.</summary>
        public async Task<int> StaleAsync()
        {
            var stale = 0;
            foreach (var key in Edited)
            {
                stale += IsOld(await _cache.GetAsync<string>(key)) ? 1 : 0;
            }

            stale += (await _cache.GetManyAsync<string>([.. Edited])).Count(IsOld);
            for (var i = 0; i < Posts; i++)
            {
                stale += _distributed.Get($"sync:{i}") is { } bytes && IsOld(Encoding.UTF8.GetString(bytes)) ? 1 : 0;
                stale += IsOld(await _cache.GetOrSetAsync($"page:{i}", _ => ValueTask.FromResult($"new page {i}"), Tagged($"post:{i}", "posts"))) ? 1 : 0;
            }

            return stale;
        }

        /// <summary>How many of the entries never edited are hits: all of them once every server serves this node.</summary>
        public async Task<int> UneditedHitsAsync() =>
            (await _cache.GetManyAsync<string>([.. Enumerable.Range(0, Posts).Select(static i => $"unedited:{i}")])).Count(static v => v is not null);

        private static bool IsOld(string? value) => value?.StartsWith("old", StringComparison.Ordinal) == true;

        private static RcEntryOptions Tagged(params string[] tags) => new() { Tags = tags };

        /// <summary>How many entries read as they were written by <see cref="FillAsync"/>.</summary>
        private async Task<int> OldAsync()
        {
            var old = 0;
            foreach (var key in Edited)
            {
                old += IsOld(await _cache.GetAsync<string>(key)) ? 1 : 0;
            }

            for (var i = 0; i < Posts; i++)
            {
                old += _distributed.Get($"sync:{i}") is { } bytes && IsOld(Encoding.UTF8.GetString(bytes)) ? 1 : 0;
            }

            return old + (await UneditedHitsAsync());
        }
    }
}
