using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Caching;
using RcAspNet.Stores;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Reliability;

/// <summary>
/// <c>Rc:StampedeProtection=Fleet</c>: three service providers stand for three app nodes on one Redis, three shards or a
/// cluster. Concurrent misses on every node run the factory once; a holder that dies mid-factory is taken over by one
/// waiter; nobody waits past the hard timeout.
/// </summary>
public sealed class FleetLoadTests
{
    public static TheoryData<string> Fleets => ["redis", "redis+near", "shards", "cluster"];

    [Theory]
    [MemberData(nameof(Fleets))]
    public async Task ThreeNodes_WithConcurrentMisses_RunTheFactoryOnce(string fleet)
    {
        var ns = SharedRedis.UniqueNamespace();
        var nodes = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => NodeAsync(fleet, ns)));
        try
        {
            var runs = 0;
            async ValueTask<string> Render(CancellationToken token)
            {
                Interlocked.Increment(ref runs);
                await Task.Delay(300, token);
                return "the page";
            }

            var calls = nodes.SelectMany(node => Enumerable.Range(0, 10).Select(_ => node.GetRequiredService<IRcCache>().GetOrSetAsync("post:1", Render).AsTask())).ToArray();
            var pages = await Task.WhenAll(calls);
            Assert.All(pages, static p => Assert.Equal("the page", p));
            Assert.Equal(1, Volatile.Read(ref runs));

            // The holder let go of its lock (compare and delete): none is left behind.
            Assert.Empty(await LocksAsync(fleet, ns));
        }
        finally
        {
            foreach (var node in nodes)
            {
                await node.DisposeAsync();
            }
        }
    }

    [Theory]
    [MemberData(nameof(Fleets))]
    public async Task ThreeApps_WithConcurrentFirstRequests_RenderACachedPageOnce(string fleet)
    {
        // The measurement: three app processes on one Redis, 10 concurrent first requests each for a 300 ms handler.
        var settings = await AppSettingsAsync(fleet);
        var apps = Enumerable.Range(0, 3).Select(_ => new TestAppFactory(settings)).ToArray();
        try
        {
            var clients = apps.Select(static app => app.CreateClient()).ToArray();
            var requests = clients.SelectMany(static client => Enumerable.Range(0, 10).Select(_ => client.GetAsync("/slow/7"))).ToArray();
            var responses = await Task.WhenAll(requests);
            var bodies = await Task.WhenAll(responses.Select(static r => r.Content.ReadAsStringAsync()));
            Assert.All(responses, static r => Assert.Equal(System.Net.HttpStatusCode.OK, r.StatusCode));
            Assert.Single(bodies.Distinct());
            Assert.Equal(1, apps.Sum(static app => app.Counters.Get("slow")));
            Assert.Empty(await LocksAsync(fleet, settings["Rc:Namespace"]!));
        }
        finally
        {
            foreach (var app in apps)
            {
                await app.DisposeAsync();
            }
        }
    }

    [Theory]
    [MemberData(nameof(Fleets))]
    public async Task TheHolderDiesMidFactory_OneWaiterTakesOver(string fleet)
    {
        var ns = SharedRedis.UniqueNamespace();
        var holder = await NodeAsync(fleet, ns);
        var others = await Task.WhenAll(NodeAsync(fleet, ns), NodeAsync(fleet, ns));
        try
        {
            var runs = 0;
            var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var never = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            _ = holder.GetRequiredService<IRcCache>().GetOrSetAsync<string>("post:1", async _ =>
            {
                Interlocked.Increment(ref runs);
                started.SetResult();
                return await never.Task;
            }).AsTask();
            await started.Task;

            var waiters = others.SelectMany(node => Enumerable.Range(0, 5).Select(_ => node.GetRequiredService<IRcCache>().GetOrSetAsync("post:1", _ =>
            {
                Interlocked.Increment(ref runs);
                return ValueTask.FromResult("taken over");
            }).AsTask())).ToArray();

            // The holder's node goes away mid-factory: its lock is no longer renewed, and lapses.
            await holder.DisposeAsync();
            var pages = await Task.WhenAll(waiters).WaitAsync(TimeSpan.FromSeconds(60));
            Assert.All(pages, static p => Assert.Equal("taken over", p));
            Assert.Equal(2, Volatile.Read(ref runs));
        }
        finally
        {
            foreach (var node in others)
            {
                await node.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task AWaiter_NeverWaitsPastTheHardTimeout()
    {
        var ns = SharedRedis.UniqueNamespace();
        await using var holder = await NodeAsync("redis", ns);
        await using var waiter = await NodeAsync("redis", ns, o => o.FactoryHardTimeout = TimeSpan.FromMilliseconds(300));
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var held = holder.GetRequiredService<IRcCache>().GetOrSetAsync<string>("post:1", async _ =>
        {
            started.SetResult();
            return await release.Task;
        }).AsTask();
        await started.Task;

        var runs = 0;
        await Assert.ThrowsAsync<TimeoutException>(async () => await waiter.GetRequiredService<IRcCache>().GetOrSetAsync("post:1", _ =>
        {
            Interlocked.Increment(ref runs);
            return ValueTask.FromResult("mine");
        }));
        release.SetResult("the holder's");
        Assert.Equal("the holder's", await held);
        Assert.Equal(0, Volatile.Read(ref runs));
        Assert.Equal("the holder's", await waiter.GetRequiredService<IRcCache>().GetAsync<string>("post:1"));
    }

    [Fact]
    public async Task AHolderWhoseFactoryHangsPastTheRenewalLimit_LetsTheFleetsLockGo()
    {
        // Past the time in which its fill may be written (10 minutes; here 1 s), the factory is taken for hung: another
        // node's caller runs a factory of its own rather than wait for a lock renewed for as long as the hung one runs.
        var ns = SharedRedis.UniqueNamespace();
        await using var holder = await NodeAsync("redis", ns);
        await using var other = await NodeAsync("redis", ns);
        var loader = holder.GetRequiredService<CacheRegistry>().Default.Loader;
        (loader.LockLifetime, loader.RenewalLimit) = (TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(1));
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var hung = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var held = holder.GetRequiredService<IRcCache>().GetOrSetAsync<string>("post:1", async _ =>
        {
            started.SetResult();
            return await hung.Task;
        }).AsTask();
        try
        {
            await started.Task;
            var elsewhere = other.GetRequiredService<IRcCache>().GetOrSetAsync<string>("post:1", static _ => ValueTask.FromResult("the other node's")).AsTask();
            Assert.Equal("the other node's", await elsewhere.WaitAsync(TimeSpan.FromSeconds(30)));
        }
        finally
        {
            hung.SetResult("the hung one's");
        }

        // The hung factory ends at last: what it loaded is not written over what the fleet loaded after it.
        Assert.Equal("the hung one's", await held.WaitAsync(TimeSpan.FromSeconds(30)));
        await Eventually.TrueAsync(() => Task.FromResult(!loader.IsLoading(ns + "post:1")));
        Assert.Equal("the other node's", await other.GetRequiredService<IRcCache>().GetAsync<string>("post:1"));
    }

    [Fact]
    public async Task AHolderWhoseFactoryMetATimeout_KeepsRenewingItsLock()
    {
        // The factory's own call to the lock's server times out, which spends the caller's failure budget on that
        // server. The renewals are units of work of their own: they go on, and the lock outlives its lifetime.
        await using var server = await RedisServer.StartAsync();
        var ns = SharedRedis.UniqueNamespace();
        await using var holder = TestServices.Build(o =>
        {
            TestServices.Redis(o, server);
            o.Namespace = ns;
            o.OperationTimeout = TimeSpan.FromMilliseconds(300);
            o.StampedeProtection = RcStampedeProtection.Fleet;
        });
        var lifetime = TimeSpan.FromSeconds(6);
        holder.GetRequiredService<CacheRegistry>().Default.Loader.LockLifetime = lifetime;
        var cache = holder.GetRequiredService<IRcCache>();
        var spent = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // Connected before the load, so that its lookup and its lock are not a connect within the short timeout.
        await Eventually.TrueAsync(async () =>
        {
            await cache.SetAsync("warm", "up");
            return await cache.GetAsync<string>("warm") == "up";
        });

        FailureBudget.Open();
        var held = cache.GetOrSetAsync("post:1", async _ =>
        {
            server.Pause();
            try
            {
                Assert.Null(await cache.GetAsync<string>("other"));
            }
            finally
            {
                server.Resume();
            }

            spent.SetResult();
            await release.Task;
            return "the page";
        }).AsTask();
        await spent.Task.WaitAsync(TimeSpan.FromSeconds(30));

        // Well past the lock's lifetime: only renewals can have kept it.
        await Task.Delay(lifetime + TimeSpan.FromSeconds(4));
        var locks = await server.CommandAsync("KEYS", $"rc-lock:*{ns}*");
        release.SetResult();
        Assert.Equal("the page", await held.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("rc-lock:", locks, StringComparison.Ordinal);
    }

    [Fact]
    public void TheLockKey_LivesInTheSlotOfItsEntry()
    {
        foreach (var key in new[] { "ns:post:1", "ns:{user:7}:posts", "n{s:a}b", "p}ost", "ns:a{}b" })
        {
            var lockKey = FleetLockKey.For(key);
            Assert.StartsWith("rc-lock:", lockKey, StringComparison.Ordinal);
            if (!key.Contains('}', StringComparison.Ordinal) || key.Contains("{user:7}", StringComparison.Ordinal) || key.Contains("{s:a}", StringComparison.Ordinal))
            {
                Assert.Equal(RcAspNet.Stores.Redis.HashSlot.Of(key), RcAspNet.Stores.Redis.HashSlot.Of(lockKey));
            }
        }
    }

    private static async Task<ServiceProvider> NodeAsync(string fleet, string ns, Action<RcOptions>? more = null)
    {
        Action<RcOptions> where;
        switch (fleet)
        {
            case "shards":
                var shards = await SharedRedis.Shards;
                where = o => TestServices.Sharded(o, shards);
                break;
            case "cluster":
                var cluster = await SharedRedis.Cluster;
                where = o => (o.Store, o.Redis) = (RcStoreKind.Redis, cluster.Configuration);
                break;
            default:
                var single = await SharedRedis.Single;
                where = o => TestServices.Redis(o, single);
                break;
        }

        return TestServices.Build(o =>
        {
            where(o);
            o.Namespace = ns;
            o.OperationTimeout = TimeSpan.FromSeconds(10);
            o.StampedeProtection = RcStampedeProtection.Fleet;
            o.NearCache.Enabled = fleet.EndsWith("+near", StringComparison.Ordinal);
            more?.Invoke(o);
        });
    }

    /// <summary>The test app's settings for a node of <paramref name="fleet"/>, with fleet-wide stampede protection.</summary>
    private static async Task<Dictionary<string, string?>> AppSettingsAsync(string fleet)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Rc:Namespace"] = SharedRedis.UniqueNamespace(),
            ["Rc:OperationTimeout"] = "00:00:10",
            ["Rc:StampedeProtection"] = "Fleet",
            ["Rc:NearCache:Enabled"] = fleet.EndsWith("+near", StringComparison.Ordinal) ? "true" : "false",
        };
        switch (fleet)
        {
            case "shards":
                TestServices.ShardSettings(settings, await SharedRedis.Shards);
                break;
            case "cluster":
                settings["Rc:Store"] = "Redis";
                settings["Rc:Redis"] = (await SharedRedis.Cluster).Configuration;
                break;
            default:
                settings["Rc:Store"] = "Redis";
                settings["Rc:Redis"] = (await SharedRedis.Single).EndPoint;
                break;
        }

        return settings;
    }

    /// <summary>The fleet locks of a namespace left on any server.</summary>
    private static async Task<List<string>> LocksAsync(string fleet, string ns)
    {
        IEnumerable<RedisServer> servers = fleet switch
        {
            "shards" => await SharedRedis.Shards,
            "cluster" => (await SharedRedis.Cluster).Nodes,
            _ => [await SharedRedis.Single],
        };
        var locks = new List<string>();
        foreach (var server in servers)
        {
            var reply = await server.CommandAsync("KEYS", $"rc-lock:*{ns}*");
            if (reply.Trim() != "*0")
            {
                locks.Add(reply);
            }
        }

        return locks;
    }
}
