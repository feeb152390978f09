using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Batching;

/// <summary>
/// <c>IRcBatch</c> loads with fail-safe, eager refresh and <c>Fleet</c>, on three shards: what <c>GetOrSetAsync</c>
/// does key by key, a batch does for its lookups, and a load-many loader is still called once for the misses of a flush.
/// </summary>
public sealed class BatchLoadingTests
{
    private static readonly RcEntryOptions TenSeconds = new() { Expiration = TimeSpan.FromSeconds(10) };

    [Fact]
    public async Task FailSafe_WhileTheLoadersFail_EveryLookupGetsItsLastValue_AndTheLoadManyLoaderIsCalledOnce()
    {
        var ns = SharedRedis.UniqueNamespace();
        var clock = new ManualTimeProvider(DateTimeOffset.UtcNow);
        var shards = await SharedRedis.Shards;
        await using var services = Build(ns, clock, o => o.FailSafe.MaxDuration = TimeSpan.FromHours(1));
        var failing = false;
        var calls = new ConcurrentQueue<int[]>();
        ValueTask<IReadOnlyDictionary<int, string>> Titles(IReadOnlyList<int> ids, CancellationToken token)
        {
            calls.Enqueue([.. ids]);
            return failing ? throw new InvalidOperationException("the database is down")
                : ValueTask.FromResult<IReadOnlyDictionary<int, string>>(ids.ToDictionary(static id => id, id => $"title {id} #{calls.Count}"));
        }

        ValueTask<string> Front(CancellationToken token) => failing ? throw new InvalidOperationException("down") : ValueTask.FromResult("front");

        var first = await FlushAsync(services, Titles, Front);
        Assert.Equal(["front", "title 1 #1", "title 2 #1", "title 3 #1"], first);
        Assert.Single(calls);

        Clock(clock, TimeSpan.FromSeconds(11));
        await RedisTime.PassAsync(string.Join(",", shards.Select(static s => s.EndPoint)), ns, TimeSpan.FromSeconds(11));
        failing = true;
        var metrics = new MetricsRecorder(services);
        Assert.Equal(first, await FlushAsync(services, Titles, Front));
        Assert.Equal(2, calls.Count);
        Assert.Equal([1, 2, 3], calls.Last().Order());
        Assert.Equal(4, metrics.Sum("rc.cache.stale", static t => t["rc.stale.reason"] == "factory_failed"));
    }

    [Fact]
    public async Task EagerRefresh_AFlushPastTheThresholdAnswersAtOnce_AndRefreshesInTheBackground()
    {
        var ns = SharedRedis.UniqueNamespace();
        var clock = new ManualTimeProvider(DateTimeOffset.UtcNow);
        await using var services = Build(ns, clock, o => o.EagerRefreshThreshold = 0.5);
        var version = 1;
        var gate = Task.CompletedTask;
        async ValueTask<IReadOnlyDictionary<int, string>> Titles(IReadOnlyList<int> ids, CancellationToken token)
        {
            await gate;
            return ids.ToDictionary(static id => id, id => $"title {id} v{version}");
        }

        async ValueTask<string> Front(CancellationToken token)
        {
            await gate;
            return $"front v{version}";
        }

        var first = await FlushAsync(services, Titles, Front);
        Clock(clock, TimeSpan.FromSeconds(6));
        var shut = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        (gate, version) = (shut.Task, 2);
        Assert.Equal(first, await FlushAsync(services, Titles, Front));

        // The refreshes outlive the flush that started them; they store what they load once the gate opens. Read without
        // a loader, so that no later flush loads the values itself.
        shut.SetResult();
        var cache = services.GetRequiredService<IRcCache>();
        await Eventually.TrueAsync(async () => (await cache.GetManyAsync<string>(["front", .. Enumerable.Range(1, 3).Select(static id => RcKey.For("title", id))])).SequenceEqual(["front v2", "title 1 v2", "title 2 v2", "title 3 v2"]));
    }

    [Fact]
    public async Task AFlushThatIsCancelled_DoesNotCancelTheLoadManyCallAnotherCallerJoined()
    {
        var ns = SharedRedis.UniqueNamespace();
        await using var services = Build(ns, TimeProvider.System, static o => o.FailSafe.MaxDuration = TimeSpan.FromHours(1));
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        async ValueTask<IReadOnlyDictionary<int, string>> Titles(IReadOnlyList<int> ids, CancellationToken token)
        {
            entered.TrySetResult();
            await gate.Task.WaitAsync(token);
            return ids.ToDictionary(static id => id, static id => $"title {id}");
        }

        using var leaving = new CancellationTokenSource();
        await using var scope = services.CreateAsyncScope();
        var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
        _ = batch.Load("title", 1, Titles, TenSeconds);
        var flush = batch.FlushAsync(leaving.Token);
        await entered.Task;

        // Another request asks for the same key while the flush loads it, and shares that load; then the first one leaves.
        var cache = services.GetRequiredService<IRcCache>();
        var joined = cache.GetOrSetAsync(RcKey.For("title", 1), static _ => ValueTask.FromResult("its own"), TenSeconds).AsTask();
        await Eventually.TrueAsync(() => Task.FromResult(((RcAspNet.Caching.RcCache)cache).Loader.Waiters<string>(ns + RcKey.For("title", 1)) == 2));
        await leaving.CancelAsync();
        await flush.ContinueWith(static _ => { }, TaskScheduler.Default);
        Assert.False(joined.IsCompleted);
        gate.SetResult();
        Assert.Equal("title 1", await joined);
    }

    [Fact]
    public async Task Fleet_ThreeNodesFlushingTheSameLookups_LoadEachKeyOnce()
    {
        var ns = SharedRedis.UniqueNamespace();
        var nodes = Enumerable.Range(0, 3).Select(_ => Build(ns, TimeProvider.System, static o => o.StampedeProtection = RcStampedeProtection.Fleet)).ToArray();
        try
        {
            var loaded = new ConcurrentQueue<int>();
            var fronts = 0;
            async ValueTask<IReadOnlyDictionary<int, string>> Titles(IReadOnlyList<int> ids, CancellationToken token)
            {
                foreach (var id in ids)
                {
                    loaded.Enqueue(id);
                }

                await Task.Delay(200, token);
                return ids.ToDictionary(static id => id, static id => $"title {id}");
            }

            async ValueTask<string> Front(CancellationToken token)
            {
                Interlocked.Increment(ref fronts);
                await Task.Delay(200, token);
                return "front";
            }

            var results = await Task.WhenAll(nodes.SelectMany(node => Enumerable.Range(0, 3).Select(_ => FlushAsync(node, Titles, Front))));
            Assert.All(results, static r => Assert.Equal(["front", "title 1", "title 2", "title 3"], r));
            Assert.Equal(1, Volatile.Read(ref fronts));
            Assert.Equal([1, 2, 3], loaded.Order());
        }
        finally
        {
            foreach (var node in nodes)
            {
                await node.DisposeAsync();
            }
        }
    }

    private static void Clock(ManualTimeProvider clock, TimeSpan by) => clock.Advance(by);

    [Fact]
    public async Task ALookupWithATagThatBreaksARule_IsRefusedAsItIsQueued_AndTheOthersOfItsFlushResolve()
    {
        await using var services = Build(SharedRedis.UniqueNamespace(), TimeProvider.System, static _ => { });
        await using var scope = services.CreateAsyncScope();
        var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
        var front = batch.Load("front", static _ => ValueTask.FromResult("front"), TenSeconds);
        var tooLong = new RcEntryOptions { Tags = [new string('t', 1025)] };
        var halfAPair = new RcEntryOptions { Tags = ["post:\uD800"] };

        var error = Assert.Throws<ArgumentException>(() => batch.Load("post", static _ => ValueTask.FromResult("post"), tooLong));
        Assert.Contains("Rc:MaximumKeyLength", error.Message, StringComparison.Ordinal);
        error = Assert.Throws<ArgumentException>(() => batch.Load("page", static _ => ValueTask.FromResult("page"), halfAPair));
        Assert.Contains("surrogate", error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentNullException>(() => batch.Load("title", 1, static (ids, _) => ValueTask.FromResult<IReadOnlyDictionary<int, string>>(ids.ToDictionary(static id => id, static id => $"title {id}")), new RcEntryOptions { Tags = [null!] }));

        await batch.FlushAsync();
        Assert.Equal("front", front.Value);
    }

    private static ServiceProvider Build(string ns, TimeProvider clock, Action<RcOptions> configure)
    {
        var shards = SharedRedis.Shards.Result;
        return TestServices.Build(
            o =>
            {
                TestServices.Sharded(o, shards);
                o.Namespace = ns;
                o.OperationTimeout = TimeSpan.FromSeconds(10);
                configure(o);
            },
            s => s.AddSingleton(clock));
    }

    /// <summary>One request's batch: a single lookup and three of a load-many loader, in one flush.</summary>
    private static async Task<string[]> FlushAsync(
        ServiceProvider services,
        Func<IReadOnlyList<int>, CancellationToken, ValueTask<IReadOnlyDictionary<int, string>>> titles,
        Func<CancellationToken, ValueTask<string>> front)
    {
        await using var scope = services.CreateAsyncScope();
        var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
        var promises = new[] { batch.Load("front", front, TenSeconds) }
            .Concat(Enumerable.Range(1, 3).Select(id => batch.Load("title", id, titles, TenSeconds)))
            .ToArray();
        await batch.FlushAsync();
        return [.. promises.Select(static p => p.Value)];
    }
}
