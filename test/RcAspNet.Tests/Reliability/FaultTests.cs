using System.Diagnostics;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using RcAspNet.Caching;
using RcAspNet.Stores;
using RcAspNet.Stores.Redis;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Reliability;

/// <summary>Faults of real redis-server processes (killed, frozen, absent, full, holding foreign data) and what the cache does about them.</summary>
[Collection(AloneCollection.Name)]
public sealed class FaultTests(Xunit.Abstractions.ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMilliseconds(250);
    private readonly List<RedisServer> _servers = [];
    private readonly LogRecorder _logs = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var server in _servers)
        {
            await server.DisposeAsync();
        }
    }

    private async Task<RedisServer[]> StartAsync(int count, params string[] args)
    {
        var servers = await RedisServer.StartManyAsync(count, args);
        _servers.AddRange(servers);
        return servers;
    }

    private ServiceProvider Services(Action<RcOptions> store, RcFailureMode mode = RcFailureMode.Degrade) => TestServices.Build(
        o =>
        {
            store(o);
            o.Namespace = "f:";
            o.FailureMode = mode;
            o.OperationTimeout = Timeout;
            o.CircuitBreakerThreshold = 3;
            o.CircuitBreakDuration = TimeSpan.FromMilliseconds(500);
            o.MaximumValueSize = 1024 * 1024;
        },
        s => s.AddLogging(b => b.AddProvider(_logs).SetMinimumLevel(LogLevel.Trace)).AddHealthChecks().AddRcHealthCheck());

    private static ShardedStore Sharded(ServiceProvider services) => (ShardedStore)services.GetRequiredService<CacheRegistry>().Stores[0];

    /// <summary>Keys of the cache (without namespace) that the router puts on shard <paramref name="shard"/>.</summary>
    private static string[] KeysOn(ServiceProvider services, int shard, int count = 5) =>
        Enumerable.Range(0, 1000).Select(static i => $"k{i}").Where(k => Sharded(services).Router.GetShard("f:" + k) == shard).Take(count).ToArray();

    private static async Task<HealthStatus> HealthAsync(ServiceProvider services) =>
        (await services.GetRequiredService<HealthCheckService>().CheckHealthAsync()).Status;

    [Fact]
    public async Task ShardDownAtStartUp_ItsKeysMiss_ItIsPickedUpWhenItComesBack()
    {
        var servers = await StartAsync(2);
        var absentPort = RedisServer.FreePort();
        await using var services = Services(o =>
        {
            TestServices.Sharded(o, servers);
            o.Shards["cache03"] = new RcShardOptions { Host = "127.0.0.1", Port = absentPort };
        });
        var cache = services.GetRequiredService<IRcCache>();
        var absent = KeysOn(services, 2);
        var present = KeysOn(services, 0);
        await cache.SetManyAsync<int>(absent.Concat(present).Select(static k => new KeyValuePair<string, int>(k, 1)).ToArray());
        var values = await cache.GetManyAsync<int?>(absent.Concat(present).ToArray());
        Assert.All(values.Take(absent.Length), Assert.Null);
        Assert.All(values.Skip(absent.Length), static v => Assert.Equal(1, v));
        Assert.Equal(HealthStatus.Degraded, await HealthAsync(services));

        _servers.Add(await RedisServer.StartOnAsync(absentPort));
        var back = Stopwatch.StartNew();
        var recovered = await EventuallyAsync(async () =>
        {
            await cache.SetAsync(absent[0], 7);
            return await cache.GetAsync<int?>(absent[0]) == 7;
        });
        Assert.True(recovered, "The shard's keys came back without a restart.");
        output.WriteLine($"the shard absent at start-up served its keys {back.ElapsedMilliseconds} ms after it started");
        Assert.Equal(HealthStatus.Healthy, await HealthAsync(services));
    }

    [Fact]
    public async Task FrozenShard_TimesOutOnceThenItsCircuitOpensSoNoCallPaysTheTimeoutAgain()
    {
        var servers = await StartAsync(3);
        await using var services = Services(o => TestServices.Sharded(o, servers));
        using var metrics = new MetricsRecorder(services);
        var cache = services.GetRequiredService<IRcCache>();
        var frozen = KeysOn(services, 1, 1)[0];
        await cache.SetAsync(frozen, 1);

        servers[1].Pause();
        var elapsed = Stopwatch.StartNew();
        for (var i = 0; i < 20; i++)
        {
            Assert.Null(await cache.GetAsync<int?>(frozen));
        }

        elapsed.Stop();
        output.WriteLine($"20 reads of a frozen shard: {elapsed.ElapsedMilliseconds} ms in all, {metrics.Sum("rc.store.timeouts")} timeout, then the circuit opened");
        Assert.Equal(1, metrics.Sum("rc.store.timeouts"));
        Assert.Equal(20, metrics.Sum("rc.cache.misses", static t => t["rc.cache"] == "default"));
        Assert.Equal(19, metrics.Sum("rc.store.errors", static t => t["error.type"] == "circuit_open"));
        Assert.Equal(1, metrics.Sum("rc.circuit.state_changes", static t => t["rc.circuit.state"] == "open"));
        Assert.True(elapsed.Elapsed < Timeout * 4, $"20 reads of a frozen shard took {elapsed.ElapsedMilliseconds} ms: one timeout, then the open circuit, bound them.");

        servers[1].Resume();
        Assert.True(await EventuallyAsync(async () => await cache.GetAsync<int?>(frozen) == 1), "Hits come back after the shard does.");
        Assert.Equal(1, metrics.Sum("rc.circuit.state_changes", static t => t["rc.circuit.state"] == "closed"));
    }

    [Fact]
    public async Task FrozenShard_ManyKeyReadsAnswerWithTheOtherShards()
    {
        var servers = await StartAsync(3);
        await using var services = Services(o => TestServices.Sharded(o, servers));
        var cache = services.GetRequiredService<IRcCache>();
        var keys = Enumerable.Range(0, 60).Select(static i => $"many{i}").ToArray();
        await cache.SetManyAsync<int>(keys.Select(static (k, i) => new KeyValuePair<string, int>(k, i)).ToArray());

        servers[2].Pause();
        var started = Stopwatch.StartNew();
        var values = await cache.GetManyAsync<int?>(keys);
        output.WriteLine($"GetMany of 60 keys with one of three shards frozen: {started.ElapsedMilliseconds} ms, {values.Count(static v => v is not null)} answered");
        for (var i = 0; i < keys.Length; i++)
        {
            var onFrozen = Sharded(services).Router.GetShard("f:" + keys[i]) == 2;
            Assert.Equal(onFrozen ? null : i, values[i]);
        }

        Assert.Contains(values, static v => v is null);
        Assert.Equal(HealthStatus.Degraded, await HealthAsync(services));
        servers[2].Resume();
    }

    [Fact]
    public async Task OneTimeoutOfAStalledButHealthyServer_ClosesItsCircuitWithinAProbe_NotTheBreakDuration()
    {
        var servers = await StartAsync(1, "--enable-debug-command", "yes");
        await using var services = TestServices.Build(o =>
        {
            TestServices.Redis(o, servers[0]);
            o.Namespace = "stall:";
            o.OperationTimeout = TimeSpan.FromMilliseconds(100);
            o.CircuitBreakDuration = TimeSpan.FromSeconds(30);
        });
        var cache = services.GetRequiredService<IRcCache>();
        var store = (RedisStore)services.GetRequiredService<CacheRegistry>().Stores[0];
        await cache.SetAsync("k", 1);

        // The server stops answering for 400 ms (as a CPU-starved one would), then answers again at once.
        var stall = servers[0].CommandAsync("DEBUG", "SLEEP", "0.4");
        await Task.Delay(50);
        Assert.Null(await cache.GetAsync<int?>("k"));
        Assert.Equal(CircuitState.Open, store.CircuitState);
        var opened = Stopwatch.StartNew();
        await stall;
        var answered = opened.Elapsed;
        while (store.CircuitState == CircuitState.Open)
        {
            Assert.True(opened.Elapsed < TimeSpan.FromSeconds(10), "The circuit stayed open after the server answered again.");
            await Task.Delay(10);
        }

        output.WriteLine($"one timeout of a stalled server: its circuit closed {opened.ElapsedMilliseconds} ms after it opened, {(opened.Elapsed - answered).TotalMilliseconds:0} ms after the server answered again (CircuitBreakDuration 30 s)");
        Assert.Equal(1, await cache.GetAsync<int?>("k"));
    }

    [Fact]
    public async Task KilledAndRestartedShard_NeverFailsACallAndRecovers()
    {
        var servers = await StartAsync(1);
        await using var services = Services(o => TestServices.Redis(o, servers[0]));
        var cache = services.GetRequiredService<IDistributedCache>();
        await cache.SetAsync("k", [1], new DistributedCacheEntryOptions());

        servers[0].Kill();
        for (var i = 0; i < 10; i++)
        {
            Assert.Null(await cache.GetAsync("k"));
            await cache.SetAsync("k", [2], new DistributedCacheEntryOptions());
        }

        Assert.Equal(HealthStatus.Unhealthy, await HealthAsync(services));
        await servers[0].RestartAsync();
        var back = Stopwatch.StartNew();
        Assert.True(await EventuallyAsync(async () =>
        {
            await cache.SetAsync("k", [3], new DistributedCacheEntryOptions());
            return (await cache.GetAsync("k"))?[0] == 3;
        }));
        output.WriteLine($"writes and hits came back {back.ElapsedMilliseconds} ms after the restart");
    }

    [Fact]
    public async Task DeadRedis_ThrowMode_SurfacesRcCacheException()
    {
        await using var services = Services(static o => (o.Store, o.Redis) = (RcStoreKind.Redis, "127.0.0.1:1,connectTimeout=200"), RcFailureMode.Throw);
        var cache = services.GetRequiredService<IDistributedCache>();
        await Assert.ThrowsAsync<RcCacheException>(() => cache.GetAsync("k"));
        await Assert.ThrowsAsync<RcCacheException>(() => cache.SetAsync("k", [1], new DistributedCacheEntryOptions()));
        await Assert.ThrowsAsync<RcCacheException>(() => cache.RemoveAsync("k"));
        await Assert.ThrowsAsync<RcCacheException>(() => cache.RefreshAsync("k"));
        var error = Assert.Throws<RcCacheException>(() => cache.Get("k"));
        Assert.Equal("redis", error.Shard);
    }

    [Fact]
    public async Task DeadRedis_DegradeMode_ReadsMissAndWritesDrop()
    {
        await using var services = Services(static o => (o.Store, o.Redis) = (RcStoreKind.Redis, "127.0.0.1:1,connectTimeout=200"));
        using var metrics = new MetricsRecorder(services);
        var cache = services.GetRequiredService<IDistributedCache>();
        Assert.Null(await cache.GetAsync("k"));
        await cache.SetAsync("k", [1], new DistributedCacheEntryOptions());
        await cache.RemoveAsync("k");
        await cache.RefreshAsync("k");
        Assert.True(metrics.Sum("rc.store.errors") >= 4);
        Assert.Contains(_logs.Records, static r => r.Id.Name == "RcOperationFailed" && r.Level == LogLevel.Warning);
    }

    [Theory]
    [InlineData(RcFailureMode.Degrade)]
    [InlineData(RcFailureMode.Throw)]
    public async Task KeyHoldingAnotherRedisType_IsAMiss(RcFailureMode mode)
    {
        var servers = await StartAsync(1);
        await using var services = Services(o => TestServices.Redis(o, servers[0]), mode);
        await servers[0].CommandAsync("HSET", "f:hash", "field", "value");
        await servers[0].CommandAsync("LPUSH", "f:list", "x");
        Assert.Null(await services.GetRequiredService<IDistributedCache>().GetAsync("hash"));
        Assert.Null(await services.GetRequiredService<IRcCache>().GetAsync<string>("list"));
        Assert.Equal([null, null], await services.GetRequiredService<IRcCache>().GetManyAsync<string>(["hash", "list"]));
        Assert.Equal("v", await services.GetRequiredService<IRcCache>().GetOrSetAsync("hash", _ => ValueTask.FromResult("v")));

        // What it loaded replaced the foreign key, under its fill lease (a write that finds no string there).
        Assert.Equal("v", await services.GetRequiredService<IRcCache>().GetAsync<string>("hash"));
        Assert.Contains(_logs.Records, static r => r.Id.Name == "RcForeignData");
    }

    [Fact]
    public async Task GarbageBytes_AreAMissForTheTypedCache()
    {
        var servers = await StartAsync(1);
        await using var services = Services(o => TestServices.Redis(o, servers[0]));
        await servers[0].CommandAsync("SET", "f:garbage", "\u00ff\u00fe{not json");
        await servers[0].CommandAsync("SET", "f:truncated", "{\"id\": 1, \"ti");
        var cache = services.GetRequiredService<IRcCache>();
        Assert.Null(await cache.GetAsync<TypedCacheContractTestsPost>("garbage"));
        Assert.Null(await cache.GetAsync<TypedCacheContractTestsPost>("truncated"));
        Assert.Contains(_logs.Records, static r => r.Id.Name == "RcUnreadableEntry");
    }

    [Theory]
    [InlineData(RcFailureMode.Degrade)]
    [InlineData(RcFailureMode.Throw)]
    public async Task FullShard_WritesDegradeAndReadsGoOn(RcFailureMode mode)
    {
        var servers = await StartAsync(1, "--maxmemory", "2mb", "--maxmemory-policy", "noeviction");
        await using var services = Services(o => TestServices.Redis(o, servers[0]), mode);
        using var metrics = new MetricsRecorder(services);
        var cache = services.GetRequiredService<IDistributedCache>();
        await cache.SetAsync("first", [1], new DistributedCacheEntryOptions());
        var refused = 0;
        for (var i = 0; i < 60; i++)
        {
            try
            {
                await cache.SetAsync($"big{i}", new byte[64 * 1024], new DistributedCacheEntryOptions());
            }
            catch (RcCacheException)
            {
                refused++;
            }
        }

        Assert.True(metrics.Sum("rc.store.errors", static t => t["error.type"] == "server") > 0, "The server refused writes (OOM).");
        Assert.Equal(mode == RcFailureMode.Throw, refused > 0);
        Assert.Equal([1], (await cache.GetAsync("first"))!);
        Assert.Equal(CircuitState.Closed, ((RedisStore)services.GetRequiredService<CacheRegistry>().Stores[0]).CircuitState);
    }

    [Fact]
    public async Task OversizedValue_IsNotStoredAndIsLogged()
    {
        await using var services = Services(static o => o.Store = RcStoreKind.Memory);
        var cache = services.GetRequiredService<IDistributedCache>();
        await cache.SetAsync("huge", new byte[(1024 * 1024) + 1], new DistributedCacheEntryOptions());
        Assert.Null(await cache.GetAsync("huge"));
        Assert.Contains(_logs.Records, static r => r.Id.Id == 200 && r.Id.Name == "RcValueTooLarge" && r.Level == LogLevel.Warning);
    }

    [Fact]
    public async Task Logs_NeverCarryKeysAtInformationOrAbove()
    {
        const string Secret = "user-secret-4711";
        await using (var dead = Services(static o => (o.Store, o.Redis) = (RcStoreKind.Redis, "127.0.0.1:1,connectTimeout=200")))
        {
            var cache = dead.GetRequiredService<IDistributedCache>();
            await cache.GetAsync(Secret);
            await cache.SetAsync(Secret, new byte[(1024 * 1024) + 1], new DistributedCacheEntryOptions());
            await cache.SetAsync(Secret, [0, (byte)'R', (byte)'C'], new DistributedCacheEntryOptions());
        }

        var servers = await StartAsync(1);
        await using (var live = Services(o => TestServices.Redis(o, servers[0])))
        {
            await servers[0].CommandAsync("HSET", "f:" + Secret, "a", "b");
            await live.GetRequiredService<IRcCache>().GetAsync<int?>(Secret);
            await servers[0].CommandAsync("SET", "f:" + Secret + "2", "garbage");
            await live.GetRequiredService<IRcCache>().GetAsync<int[]>(Secret + "2");
        }

        Assert.Contains(_logs.Records, static r => r.Level >= LogLevel.Information);
        Assert.DoesNotContain(_logs.Records, static r => r.Level >= LogLevel.Information && r.Message.Contains(Secret, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Metrics_CountHitsMissesAndDurationsWithLowCardinalityTags()
    {
        var servers = await StartAsync(3);
        await using var services = Services(o => TestServices.Sharded(o, servers));
        using var metrics = new MetricsRecorder(services);
        var cache = services.GetRequiredService<IRcCache>();
        await cache.SetAsync("a", 1);
        await cache.GetAsync<int?>("a");
        await cache.GetAsync<int?>("b");
        await cache.GetManyAsync<int?>(["a", "b", "c"]);
        await using (var scope = services.CreateAsyncScope())
        {
            var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
            var promises = Enumerable.Range(0, 30).Select(i => batch.Load($"x{i}", _ => ValueTask.FromResult(i))).ToArray();
            await batch.FlushAsync();
        }

        Assert.Equal(2, metrics.Sum("rc.cache.hits", static t => t["rc.cache"] == "default" && t["rc.store"] == "sharded"));
        Assert.Equal(33, metrics.Sum("rc.cache.misses", static t => t["rc.cache"] == "default" && t["rc.store"] == "sharded"));
        Assert.True(metrics.Count("rc.store.operation.duration") >= 5);
        Assert.Equal(30, metrics.Sum("rc.batch.size"));
        Assert.Equal(6, metrics.Sum("rc.batch.round_trips"));
        string[] allowed = ["rc.cache", "rc.store", "rc.shard", "rc.operation", "error.type", "rc.circuit.state"];
        Assert.All(metrics.Measurements, m => Assert.Empty(m.Tags.Keys.Except(allowed)));
        Assert.All(metrics.Measurements, static m => Assert.DoesNotContain(m.Tags.Values, static v => v != null && v.StartsWith("f:", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task StoreOperations_AreActivities()
    {
        var servers = await StartAsync(1);
        await using var services = Services(o => TestServices.Redis(o, servers[0]));
        var activities = new System.Collections.Concurrent.ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = static s => s.Name == RcDiagnostics.ActivitySourceName,
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            ActivityStopped = activities.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);

        // The source is process-wide: this test's own operations are the children of its own activity.
        using var parent = new Activity("test").Start();
        await services.GetRequiredService<IRcCache>().GetAsync<int?>("traced");
        var activity = Assert.Single(activities, a => a.ParentSpanId == parent.SpanId);
        Assert.Equal("get", activity.OperationName);
        Assert.Equal(ActivityKind.Client, activity.Kind);
        Assert.Equal("redis", activity.GetTagItem("rc.shard"));
        Assert.DoesNotContain(activity.Tags, static t => t.Value?.Contains("traced", StringComparison.Ordinal) == true);
    }

    private static async Task<bool> EventuallyAsync(Func<Task<bool>> condition)
    {
        for (var i = 0; i < 150; i++)
        {
            if (await condition())
            {
                return true;
            }

            await Task.Delay(100);
        }

        return false;
    }
}

public sealed record TypedCacheContractTestsPost(int Id, string Title);
