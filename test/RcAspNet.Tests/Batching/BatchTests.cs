using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Batching;

/// <summary>Servers of the batch tests' own, so that Redis's command counters see only these tests.</summary>
public sealed class BatchServers : IAsyncLifetime
{
    public RedisServer[] Shards { get; private set; } = [];

    public RedisServer Single { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var servers = await RedisServer.StartManyAsync(4);
        Shards = servers[..3];
        Single = servers[3];
    }

    public async Task DisposeAsync()
    {
        foreach (var server in Shards.Append(Single))
        {
            await server.DisposeAsync();
        }
    }
}

public sealed class BatchTests(BatchServers servers) : IClassFixture<BatchServers>
{
    public sealed record Post(int Id, string Title);

    private ServiceProvider Sharded(Action<RcOptions>? more = null) => TestServices.Build(o =>
    {
        TestServices.Sharded(o, servers.Shards);
        o.Namespace = SharedRedis.UniqueNamespace();
        more?.Invoke(o);
    });

    /// <summary>
    /// Flushes <paramref name="batch"/> with a token of its own, waits until a loader has begun (<paramref name="loading"/>),
    /// does what else must happen before (<paramref name="before"/>), then gives up, and asserts that the flush call ends
    /// as cancelled.
    /// </summary>
    private static async Task FlushAndGiveUpAsync(IRcBatch batch, Task loading, Action? before = null)
    {
        using var leaving = new CancellationTokenSource();
        var flush = batch.FlushAsync(leaving.Token);
        await loading.WaitAsync(TimeSpan.FromSeconds(30));
        before?.Invoke();
        await leaving.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => flush.WaitAsync(TimeSpan.FromSeconds(30)));
    }

    private async Task ResetAsync()
    {
        foreach (var server in servers.Shards.Append(servers.Single))
        {
            await server.ResetStatsAsync();
        }
    }

    private static async Task<long> CallsAsync(RedisServer server, params string[] commands)
    {
        var stats = await server.CommandStatsAsync();
        return commands.Sum(c => stats.GetValueOrDefault(c));
    }

    private static async Task<long> KeysAsync(RedisServer server, string ns) =>
        (await server.CommandAsync("KEYS", ns + "*")).Split('\n').Count(static l => l.StartsWith('$'));

    [Fact]
    public async Task Flush_WarmLookups_OneMgetPerShardAndNoLoader()
    {
        await using var services = Sharded();
        var cache = services.GetRequiredService<IRcCache>();
        await cache.SetManyAsync(Enumerable.Range(1, 30).Select(i => new KeyValuePair<string, Post>(RcKey.For("Post", i), new Post(i, $"t{i}"))).ToArray());
        await ResetAsync();

        await using var scope = services.CreateAsyncScope();
        var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
        var loads = 0;
        var promises = Enumerable.Range(1, 30).Select(i => batch.Load(RcKey.For("Post", i), _ => { loads++; return ValueTask.FromResult(new Post(0, "")); })).ToArray();
        await batch.FlushAsync();

        Assert.Equal(Enumerable.Range(1, 30).Select(static i => new Post(i, $"t{i}")), promises.Select(static p => p.Value));
        Assert.Equal(0, loads);
        foreach (var server in servers.Shards)
        {
            Assert.Equal(1, await CallsAsync(server, "mget"));
            Assert.Equal(0, await CallsAsync(server, "get", "set", "psetex", "setex"));
        }
    }

    [Fact]
    public async Task Flush_ColdLookups_LoadEachMissAndWriteBackOncePerShard()
    {
        await using var services = Sharded();
        var ns = services.GetRequiredService<IRcCache>().Namespace;
        await ResetAsync();
        await using (var scope = services.CreateAsyncScope())
        {
            var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
            var promises = Enumerable.Range(1, 30).Select(i => batch.Load("Post", i, (ids, _) =>
                ValueTask.FromResult<IReadOnlyDictionary<int, Post>>(ids.ToDictionary(static id => id, static id => new Post(id, "loaded"))))).ToArray();
            await batch.FlushAsync();
            Assert.All(promises, static p => Assert.Equal("loaded", p.Value.Title));
        }

        long written = 0;
        foreach (var server in servers.Shards)
        {
            var keys = await KeysAsync(server, ns);
            Assert.Equal(1, await CallsAsync(server, "mget"));

            // Each miss takes its fill lease (a SET NX, in a script) and is written under it (a SET, in a script).
            Assert.Equal(2 * keys, await CallsAsync(server, "set", "psetex", "setex"));
            written += keys;
        }

        Assert.Equal(30, written);
    }

    [Fact]
    public async Task LoadMany_LoadsEveryMissOfAFlushInOneCall()
    {
        await using var services = Sharded();
        await using var scope = services.CreateAsyncScope();
        var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
        var calls = new List<int[]>();
        ValueTask<IReadOnlyDictionary<int, Post>> Load(IReadOnlyList<int> ids, CancellationToken token)
        {
            calls.Add([.. ids]);
            return ValueTask.FromResult<IReadOnlyDictionary<int, Post>>(ids.Where(static i => i != 3).ToDictionary(static i => i, static i => new Post(i, "p")));
        }

        var promises = Enumerable.Range(1, 5).Select(i => batch.Load<int, Post>("Post", i, Load)).ToArray();
        await batch.FlushAsync();
        var call = Assert.Single(calls);
        Assert.Equal([1, 2, 3, 4, 5], call.Order());
        Assert.Null(promises[2].Value);
        Assert.Equal(5, promises[4].Value.Id);
        Assert.False(await services.GetRequiredService<IRcCache>().ExistsAsync(RcKey.For("Post", 3)));
    }

    [Fact]
    public async Task SingleRedis_OneMgetForTheWholeFlush()
    {
        await using var services = TestServices.Build(o =>
        {
            TestServices.Redis(o, servers.Single);
            o.Namespace = SharedRedis.UniqueNamespace();
        });
        await ResetAsync();
        await using var scope = services.CreateAsyncScope();
        var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
        var promises = Enumerable.Range(0, 50).Select(i => batch.Load($"k{i}", _ => ValueTask.FromResult(i))).ToArray();
        Assert.Equal(49, await promises[49].ResolveAsync());
        Assert.Equal(1, await CallsAsync(servers.Single, "mget"));
        Assert.Equal(2 * 50, await CallsAsync(servers.Single, "set", "psetex", "setex"));
        Assert.Equal(Enumerable.Range(0, 50), promises.Select(static p => p.Value));
    }

    [Fact]
    public async Task Flush_NothingQueued_MakesNoRoundTrip()
    {
        await using var services = Sharded();
        await ResetAsync();
        await using var scope = services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<IRcBatch>().FlushAsync();
        foreach (var server in servers.Shards)
        {
            Assert.Equal(0, await CallsAsync(server, "mget", "get"));
        }
    }

    [Fact]
    public async Task GetMany_NoKeys_MakesNoRoundTrip()
    {
        await using var services = Sharded();
        await ResetAsync();
        Assert.Empty(await services.GetRequiredService<IRcCache>().GetManyAsync<int>([]));
        foreach (var server in servers.Shards)
        {
            Assert.Empty((await server.CommandStatsAsync()).Keys.Except(["ping"]));
        }
    }

    [Fact]
    public async Task DuplicateKey_IsFetchedAndLoadedOnce()
    {
        await using var services = Sharded();
        await using var scope = services.CreateAsyncScope();
        var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
        var loads = 0;
        var first = batch.Load("same", _ => ValueTask.FromResult(++loads));
        var second = batch.Load("same", _ => ValueTask.FromResult(++loads));
        Assert.Equal(1, ((RcAspNet.Batching.RcBatch)batch).PendingCount);
        await batch.FlushAsync();
        Assert.Equal(1, loads);
        Assert.Equal(1, first.Value);
        Assert.Equal(1, second.Value);
    }

    [Theory]
    [InlineData("plain")]
    [InlineData("eager refresh")]
    [InlineData("hard timeout")]
    [InlineData("load many")]
    [InlineData("load many, eager refresh")]
    public async Task Loader_ThatBatchLoads_GoesToTheNextFlushWithoutDeadlock(string route)
    {
        // A lookup whose load has a policy runs its loader detached from the flush's context.
        await using var services = Sharded();
        await using var scope = services.CreateAsyncScope();
        var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
        var options = route switch
        {
            "eager refresh" or "load many, eager refresh" => new RcEntryOptions { EagerRefreshThreshold = 0.5 },
            "hard timeout" => new RcEntryOptions { FactoryHardTimeout = TimeSpan.FromSeconds(30) },
            _ => null,
        };
        var outer = route.StartsWith("load many", StringComparison.Ordinal)
            ? batch.Load(
                "outer",
                "o",
                async (IReadOnlyList<string> ids, CancellationToken _) =>
                {
                    var inner = await batch.Load("inner", _ => ValueTask.FromResult(20)).ResolveAsync();
                    return (IReadOnlyDictionary<string, int>)ids.ToDictionary(static id => id, _ => inner + 1);
                },
                options)
            : batch.Load("outer", async _ => await batch.Load("inner", _ => ValueTask.FromResult(20)).ResolveAsync() + 1, options);
        var timeout = Task.Delay(TimeSpan.FromSeconds(10));
        var flush = batch.FlushAsync();
        Assert.Same(flush, await Task.WhenAny(flush, timeout));
        Assert.Equal(21, outer.Value);
        Assert.Equal(20, await services.GetRequiredService<IRcCache>().GetAsync<int>("inner"));
    }

    [Fact]
    public async Task ALoaderThatAwaitsAnotherLookupOfItsOwnFlush_GetsItWithoutDeadlock()
    {
        await using var services = Sharded();
        await using var scope = services.CreateAsyncScope();
        var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
        var first = batch.Load("first", static async _ =>
        {
            await Task.Yield();
            return 1;
        });
        var second = batch.Load("second", async token => await first.ResolveAsync(token) + 1);
        var flush = batch.FlushAsync();
        Assert.Same(flush, await Task.WhenAny(flush, Task.Delay(TimeSpan.FromSeconds(10))));
        Assert.Equal(2, second.Value);
    }

    /// <summary>
    /// Two parts of one request share the batch: the flush that one of them starts takes the other's lookups too, so the
    /// token it gives bounds its own wait, not the flush. While the other part waits for one of them, the flush and its
    /// loaders go on, and every lookup it took is resolved.
    /// </summary>
    [Fact]
    public async Task AFlushWhoseCallerGivesUp_StillResolvesTheLookupsItTookForOthers()
    {
        await using var services = Sharded();
        await using var scope = services.CreateAsyncScope();
        var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var loading = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var mine = batch.Load("mine", async token =>
        {
            loading.TrySetResult();
            await gate.Task.WaitAsync(token);
            return 1;
        });
        var theirs = batch.Load("theirs", async token =>
        {
            await gate.Task.WaitAsync(token);
            return 2;
        });

        Task<int>? theirsRead = null;
        await FlushAndGiveUpAsync(batch, loading.Task, () => theirsRead = theirs.ResolveAsync().AsTask());

        gate.SetResult();
        Assert.Equal(2, await theirsRead!.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(1, await mine.ResolveAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30)));
        await Eventually.TrueAsync(async () => await services.GetRequiredService<IRcCache>().GetAsync<int>("theirs") == 2);
    }

    /// <summary>
    /// A caller that gives up on a flush no one else waits for cancels its loaders, and returns once they have ended (as
    /// before): the next flush of the batch does not wait for them.
    /// </summary>
    [Fact]
    public async Task AFlushItsOnlyWaiterGivesUp_CancelsItsLoaders_AndTheNextFlushGoesOn()
    {
        await using var services = Sharded();
        await using var scope = services.CreateAsyncScope();
        var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
        var loading = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var slow = batch.Load("slow", async token =>
        {
            loading.TrySetResult();
            await Task.Delay(Timeout.Infinite, token);
            return 1;
        });

        await FlushAndGiveUpAsync(batch, loading.Task);
        Assert.True(slow.IsResolved);
        Assert.ThrowsAny<OperationCanceledException>(() => slow.Value);

        var next = batch.Load("next", _ => ValueTask.FromResult(5));
        await batch.FlushAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(5, next.Value);
    }

    /// <summary>
    /// A loader that waits for another lookup of its own flush is not one of the flush's waiters: when the caller gives
    /// up, the loaders are cancelled all the same, the next flush goes on, and the request's scope ends.
    /// </summary>
    [Fact]
    public async Task AFlushWhoseLoaderAwaitsASibling_IsCancelledWhenItsCallerGivesUp()
    {
        await using var services = Sharded();
        var scope = services.CreateAsyncScope();
        var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
        var loading = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = batch.Load("first", async token =>
        {
            loading.TrySetResult();
            await Task.Delay(Timeout.Infinite, token);
            return 1;
        });
        var second = batch.Load("second", async token => await first.ResolveAsync(token) + 1);

        await FlushAndGiveUpAsync(batch, loading.Task);
        Assert.True(first.IsResolved && second.IsResolved);

        var next = batch.Load("next", _ => ValueTask.FromResult(5));
        await batch.FlushAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(5, next.Value);
        await scope.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task AFlushWhoseCallerHasGivenUpAlready_TakesNothing()
    {
        await using var services = Sharded();
        await using var scope = services.CreateAsyncScope();
        var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
        var lookup = batch.Load("kept", _ => ValueTask.FromResult(3));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => batch.FlushAsync(new CancellationToken(canceled: true)));
        Assert.False(lookup.IsResolved);
        Assert.Equal(3, await lookup.ResolveAsync());
    }

    [Fact]
    public async Task LoaderThatThrows_FaultsOnlyItsOwnHandle()
    {
        await using var services = Sharded();
        await using var scope = services.CreateAsyncScope();
        var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
        var good = batch.Load("good", _ => ValueTask.FromResult(1));
        var bad = batch.Load<int>("bad", _ => throw new InvalidOperationException("no such row"));
        await batch.FlushAsync();
        Assert.Equal(1, good.Value);
        Assert.Equal("no such row", Assert.Throws<InvalidOperationException>(() => bad.Value).Message);
        Assert.False(await services.GetRequiredService<IRcCache>().ExistsAsync("bad"));
    }

    [Theory]
    [InlineData(RcFailureMode.Degrade)]
    [InlineData(RcFailureMode.Throw)]
    public async Task StoreDown_LoadersStillAnswer(RcFailureMode mode)
    {
        await using var services = TestServices.Build(o =>
        {
            o.Store = RcStoreKind.Redis;
            o.Redis = "127.0.0.1:1,connectTimeout=200";
            o.OperationTimeout = TimeSpan.FromMilliseconds(300);
            o.FailureMode = mode;
        });
        await using var scope = services.CreateAsyncScope();
        var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
        var promises = Enumerable.Range(0, 3).Select(i => batch.Load($"k{i}", _ => ValueTask.FromResult(i))).ToArray();
        await batch.FlushAsync();
        Assert.Equal([0, 1, 2], promises.Select(static p => p.Value));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task InvalidOptions_FailOnlyTheirOwnLookup_WithPlainAndPolicyLookupsInTheFlush(bool withPolicy)
    {
        await using var services = Sharded();
        await using var scope = services.CreateAsyncScope();
        var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
        var invalidLoads = 0;
        var invalid = batch.Load("invalid", _ => ValueTask.FromResult(++invalidLoads), new RcEntryOptions { EagerRefreshThreshold = 1.5 });
        var plain = batch.Load("plain", _ => ValueTask.FromResult(1));
        var policy = withPolicy ? batch.Load("policy", _ => ValueTask.FromResult(2), new RcEntryOptions { FailSafeMaxDuration = TimeSpan.FromMinutes(1) }) : null;

        await batch.FlushAsync();

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => invalid.Value);
        Assert.Contains("EagerRefreshThreshold must be between 0 and 1", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, invalidLoads);
        Assert.Equal(1, plain.Value);
        if (policy is not null)
        {
            Assert.Equal(2, policy.Value);
        }
    }

    [Fact]
    public async Task AwaitingOneHandle_ResolvesEveryQueuedLookup()
    {
        await using var services = Sharded();
        await using var scope = services.CreateAsyncScope();
        var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
        var first = batch.Load("a", _ => ValueTask.FromResult("A"));
        var second = batch.Load("b", _ => ValueTask.FromResult("B"));
        Assert.False(second.IsResolved);
        Assert.Throws<InvalidOperationException>(() => second.Value);
        Assert.Equal("A", await first.ResolveAsync());
        Assert.True(second.IsResolved);
        Assert.Equal("B", second.Value);
        Assert.Equal(0, ((RcAspNet.Batching.RcBatch)batch).PendingCount);
    }

    [Fact]
    public async Task AwaitingAHandleWhileItsFlushRuns_WaitsForThatFlush()
    {
        await using var services = Sharded();
        await using var scope = services.CreateAsyncScope();
        var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
        var gate = new TaskCompletionSource();
        var slow = batch.Load("slow", async _ =>
        {
            await gate.Task;
            return 1;
        });
        var flush = batch.FlushAsync();
        var awaiting = Task.Run(async () => await slow.ResolveAsync());
        await Task.Delay(100);
        Assert.False(awaiting.IsCompleted);
        gate.SetResult();
        Assert.Equal(1, await awaiting);
        await flush;
    }

    [Fact]
    public async Task FlushAsync_WhileAnotherCallersFlushRuns_ReturnsOnceWhatThatFlushTookIsResolved()
    {
        // Two parts of one request share the batch: A flushes, taking B's lookup with its own; B's FlushAsync then finds
        // the queue empty, and must still not return before its handle can be read.
        await using var services = Sharded();
        await using var scope = services.CreateAsyncScope();
        var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
        var gate = new TaskCompletionSource();
        var theirs = batch.Load("b-lookup", _ => ValueTask.FromResult("B"));
        batch.Load("a-slow", async _ =>
        {
            await gate.Task;
            return "A";
        });
        var first = batch.FlushAsync();
        var second = batch.FlushAsync();
        await Task.Delay(100);
        Assert.False(second.IsCompleted);
        gate.SetResult();
        await second;
        Assert.True(theirs.IsResolved);
        Assert.Equal("B", theirs.Value);
        await first;
    }

    [Fact]
    public async Task LoadMany_AValueTheSerializerRefuses_IsAnsweredNotStored_AndTheFlushsOtherLookupsResolve()
    {
        await using var services = Sharded();
        await using var scope = services.CreateAsyncScope();
        var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
        var cyclic = new Node();
        cyclic.Next = cyclic;
        var loadMany = (IReadOnlyList<int> ids, CancellationToken _) =>
            ValueTask.FromResult<IReadOnlyDictionary<int, Node>>(ids.ToDictionary(static id => id, id => id == 2 ? cyclic : new Node { Id = id }));
        var fine = batch.Load("node", 1, loadMany);
        var refused = batch.Load("node", 2, loadMany);
        var single = batch.Load("single", _ => ValueTask.FromResult("S"));

        await batch.FlushAsync();

        Assert.Equal(1, fine.Value.Id);
        Assert.Same(cyclic, refused.Value);
        Assert.Equal("S", single.Value);
        var cache = services.GetRequiredService<IRcCache>();
        Assert.Equal(1, (await cache.GetAsync<Node>(RcKey.For("node", 1)))!.Id);
        Assert.False(await cache.ExistsAsync(RcKey.For("node", 2)));
    }

    public sealed class Node
    {
        public int Id { get; set; }

        public Node? Next { get; set; }
    }

    [Fact]
    public async Task BypassValue_IsNotWrittenBack()
    {
        await using var services = Sharded(static o => o.BypassValues.Add("null"));
        await using (var scope = services.CreateAsyncScope())
        {
            var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
            var promise = batch.Load<Post?>("missing-post", _ => ValueTask.FromResult<Post?>(null));
            Assert.Null(await promise.ResolveAsync());
        }

        Assert.False(await services.GetRequiredService<IRcCache>().ExistsAsync("missing-post"));
    }

    [Fact]
    public async Task UnreadableEntry_IsLoadedAgain()
    {
        await using var services = Sharded();
        await services.GetRequiredService<IRcCache>().SetAsync("corrupt", "not a post");
        await using var scope = services.CreateAsyncScope();
        var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
        Assert.Equal(new Post(1, "fresh"), await batch.Load("corrupt", _ => ValueTask.FromResult(new Post(1, "fresh"))).ResolveAsync());
    }

    [Fact]
    public async Task ScopeEnded_PendingHandleFaultsWithAClearMessage()
    {
        await using var services = Sharded();
        RcPromise<int> orphan;
        await using (var scope = services.CreateAsyncScope())
        {
            orphan = scope.ServiceProvider.GetRequiredService<IRcBatch>().Load("orphan", _ => ValueTask.FromResult(1));
        }

        Assert.True(orphan.IsResolved);
        var error = Assert.Throws<InvalidOperationException>(() => orphan.Value);
        Assert.Contains("request ended before this batched lookup was flushed", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnEndedRequestsLookups_NeverReachTheNextRequests_ThoughTheirQueueIsKept()
    {
        // Queues are kept across requests: each request's must start empty, whichever it is handed.
        await using var services = Sharded();
        var orphans = new List<RcPromise<int>>();
        for (var request = 0; request < 4; request++)
        {
            await using var scope = services.CreateAsyncScope();
            var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
            var loaded = request;
            var promise = batch.Load("kept", _ => ValueTask.FromResult(loaded));
            Assert.Equal(1, ((RcAspNet.Batching.RcBatch)batch).PendingCount);
            Assert.DoesNotContain(promise, orphans);
            if (request % 2 == 0)
            {
                orphans.Add(promise); // abandoned: its request ends before a flush
            }
            else
            {
                // The value an earlier request wrote back, or this one's load: never an abandoned lookup's error.
                Assert.Equal(1, await promise.ResolveAsync());
            }
        }

        Assert.All(orphans, static o => Assert.Throws<InvalidOperationException>(() => o.Value));
    }

    [Fact]
    public void AKeptQueue_IsEmptiedForTheNextRequest_UnlessItGrewPastTheBound()
    {
        // The test above goes through a pool other tests share; this one checks the queue's own reset.
        var lookups = new RcAspNet.Batching.RcBatch.Lookups();
        lookups.Keys["k"] = null;
        lookups.Entries.Add(null!);
        Assert.True(((Microsoft.Extensions.ObjectPool.IResettable)lookups).TryReset());
        Assert.Empty(lookups.Keys);
        Assert.Empty(lookups.Entries);

        lookups.Entries.AddRange(new RcAspNet.Batching.BatchEntry[RcAspNet.Batching.RcBatch.Lookups.MostKeysKept + 1]);
        Assert.False(((Microsoft.Extensions.ObjectPool.IResettable)lookups).TryReset());
    }

    [Fact]
    public async Task ResolvedOutsideAScope_IsAClearError()
    {
        // Without scope validation (as in production), the root provider would hand out one batch to every thread.
        await using var root = new ServiceCollection().AddRcCache(static _ => { }).BuildServiceProvider();
        var error = Assert.Throws<InvalidOperationException>(() => root.GetRequiredService<IRcBatch>());
        Assert.Contains("scoped to a request", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MemoryStore_BatchesToo()
    {
        await using var services = TestServices.Build(static o => o.Namespace = "m:");
        await using var scope = services.CreateAsyncScope();
        var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
        var promise = batch.Load("x", _ => ValueTask.FromResult(5));
        Assert.Equal(5, await promise.ResolveAsync());
        Assert.Equal(5, await services.GetRequiredService<IRcCache>().GetAsync<int>("x"));
    }
}
