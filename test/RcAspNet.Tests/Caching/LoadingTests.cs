using System.Text.Json;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RcAspNet.Caching;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Caching;

/// <summary>
/// Fail-safe, soft and hard timeouts and eager refresh of <c>GetOrSetAsync</c>, on the memory store and on real servers:
/// one Redis, three shards and a cluster. A fake clock moves the entries' freshness; Redis TTLs move with it
/// (<see cref="RedisTime"/>); a factory that must not finish waits on a gate, so no assertion rests on a real-time margin.
/// </summary>
public sealed class LoadingTests
{
    private static readonly RcEntryOptions TenSeconds = new() { Expiration = TimeSpan.FromSeconds(10) };

    public static TheoryData<string> Stores => ["memory", "redis", "shards", "cluster"];

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task FailSafe_ServesTheLastValueWhileTheSourceFails_ThrottlesIt_AndRecovers(string store)
    {
        await using var fixture = await Fixture.StartAsync(store, o => (o.FailSafe.MaxDuration, o.FailSafe.ThrottleDuration) = (TimeSpan.FromHours(1), TimeSpan.FromSeconds(30)));
        var source = new Source();
        Assert.Equal(1, await fixture.Cache.GetOrSetAsync("post", source.Next, TenSeconds));

        await fixture.PassAsync(TimeSpan.FromSeconds(11));
        source.Failing = true;
        Assert.Equal(1, await fixture.Cache.GetOrSetAsync("post", source.Next, TenSeconds));
        Assert.Equal(2, source.Runs);
        Assert.Equal(1, fixture.Metrics.Sum("rc.cache.stale", static t => t["rc.stale.reason"] == "factory_failed"));
        Assert.Contains(fixture.Logs.Records, static r => r.Id.Id == 303);

        // Throttled: the fallback is served without trying the source again, until the throttle ends.
        Assert.Equal(1, await fixture.Cache.GetOrSetAsync("post", source.Next, TenSeconds));
        Assert.Equal(2, source.Runs);
        Assert.Equal(1, fixture.Metrics.Sum("rc.cache.stale", static t => t["rc.stale.reason"] == "throttled"));

        await fixture.PassAsync(TimeSpan.FromSeconds(31));
        Assert.Equal(1, await fixture.Cache.GetOrSetAsync("post", source.Next, TenSeconds));
        Assert.Equal(3, source.Runs);

        // The source is back: once the throttle ends, the next call loads and stores a fresh value.
        source.Failing = false;
        await fixture.PassAsync(TimeSpan.FromSeconds(31));
        Assert.Equal(4, await fixture.Cache.GetOrSetAsync("post", source.Next, TenSeconds));
        Assert.Equal(4, await fixture.Cache.GetOrSetAsync("post", source.Next, TenSeconds));
        Assert.Equal(4, source.Runs);
        Assert.Equal(4, await fixture.Cache.GetAsync<int>("post"));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task FailSafe_AFactoryWhoseRequestEnded_ServesTheFallback_ButDoesNotThrottleTheKey(string store)
    {
        // [RcCached]'s handler gives up when its visitor leaves (RequestAborted), with no caller token cancelled: the
        // source did not fail, so the next caller tries it again rather than getting the fallback for ThrottleDuration.
        await using var fixture = await Fixture.StartAsync(store, o => (o.FailSafe.MaxDuration, o.FailSafe.ThrottleDuration) = (TimeSpan.FromHours(1), TimeSpan.FromSeconds(30)));
        var source = new Source();
        Assert.Equal(1, await fixture.Cache.GetOrSetAsync("post", source.Next, TenSeconds));
        await fixture.PassAsync(TimeSpan.FromSeconds(11));

        Assert.Equal(1, await fixture.Cache.GetOrSetAsync<int>("post", static _ => throw new RequestEndedException(new OperationCanceledException("The visitor left."), CancellationToken.None), TenSeconds));
        Assert.Equal(2, await fixture.Cache.GetOrSetAsync("post", source.Next, TenSeconds));
        Assert.Equal(0, fixture.Metrics.Sum("rc.cache.stale", static t => t["rc.stale.reason"] == "throttled"));

        // A factory that timed out (an HTTP client's timeout is an OperationCanceledException too) throttles the key.
        await fixture.PassAsync(TimeSpan.FromSeconds(11));
        Assert.Equal(2, await fixture.Cache.GetOrSetAsync<int>("post", static _ => throw new TaskCanceledException("The request timed out.", new TimeoutException()), TenSeconds));
        Assert.Equal(2, await fixture.Cache.GetOrSetAsync("post", source.Next, TenSeconds));
        Assert.Equal(1, fixture.Metrics.Sum("rc.cache.stale", static t => t["rc.stale.reason"] == "throttled"));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task FailSafe_NeverServesARemovedEntry(string store)
    {
        await using var fixture = await Fixture.StartAsync(store, o => o.FailSafe.MaxDuration = TimeSpan.FromHours(1));
        var source = new Source();
        Assert.Equal(1, await fixture.Cache.GetOrSetAsync("post", source.Next, TenSeconds));
        await fixture.PassAsync(TimeSpan.FromSeconds(11));
        source.Failing = true;

        // Past its freshness, a plain read misses: only a load may fall back on it.
        Assert.Equal(0, await fixture.Cache.GetAsync<int>("post"));
        Assert.Equal(1, (await fixture.Cache.DeleteAsync("post")).Removed);
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await fixture.Cache.GetOrSetAsync("post", source.Next, TenSeconds));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task FailSafe_AFallbackRemovedWhileTheFactoryRuns_IsNotServed(string store)
    {
        await using var fixture = await Fixture.StartAsync(store, o => o.FailSafe.MaxDuration = TimeSpan.FromHours(1));
        Assert.Equal(1, await fixture.Cache.GetOrSetAsync("post", static _ => ValueTask.FromResult(1), TenSeconds));
        await fixture.PassAsync(TimeSpan.FromSeconds(11));

        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var call = fixture.Cache.GetOrSetAsync<int>(
            "post",
            async _ =>
            {
                started.SetResult();
                await gate.Task;
                throw new InvalidOperationException("the database is down");
            },
            TenSeconds).AsTask();
        await started.Task;
        await fixture.Cache.InvalidateTagAsync("none");
        await fixture.Cache.DeleteAsync("post");
        gate.SetResult();
        await Assert.ThrowsAsync<InvalidOperationException>(() => call);
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task FailSafe_KeepsTheEntryInTheStoreForItsWindow_AndAnEntryWithoutItStaysPlain(string store)
    {
        await using var fixture = await Fixture.StartAsync(store, o => o.FailSafe.MaxDuration = TimeSpan.FromMinutes(5));
        await fixture.Cache.SetAsync("tracked", 7, TenSeconds);
        await fixture.Cache.SetAsync("plain", 7, new RcEntryOptions { Expiration = TimeSpan.FromSeconds(10), FailSafeMaxDuration = TimeSpan.Zero });
        if (fixture.Servers.Length > 0)
        {
            var tracked = await fixture.RawAsync("tracked");
            Assert.Equal([0, (byte)'R', (byte)'C', 3], tracked.Value.Take(4));
            Assert.InRange(tracked.PttlMs, 300_000, 310_000);
            var plain = await fixture.RawAsync("plain");
            Assert.Equal("7"u8.ToArray(), plain.Value);
            Assert.InRange(plain.PttlMs, 1, 10_000);
        }

        Assert.Equal(7, await fixture.Cache.GetAsync<int>("tracked"));
        await fixture.PassAsync(TimeSpan.FromSeconds(11));
        Assert.Equal(0, await fixture.Cache.GetAsync<int>("tracked"));
        Assert.Equal(0, await fixture.Cache.GetAsync<int>("plain"));
        Assert.Equal(7, await fixture.Cache.GetOrSetAsync<int>("tracked", static _ => throw new InvalidOperationException("down"), TenSeconds));
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await fixture.Cache.GetOrSetAsync<int>("plain", static _ => throw new InvalidOperationException("down"), TenSeconds));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task SoftTimeout_AnswersTheFallback_AndStoresWhatTheFactoryReturnsLater(string store)
    {
        await using var fixture = await Fixture.StartAsync(store, o => (o.FailSafe.MaxDuration, o.FactorySoftTimeout) = (TimeSpan.FromHours(1), TimeSpan.FromMilliseconds(100)));
        Assert.Equal(1, await fixture.Cache.GetOrSetAsync("post", static _ => ValueTask.FromResult(1), TenSeconds));
        await fixture.PassAsync(TimeSpan.FromSeconds(11));

        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var runs = 0;
        async ValueTask<int> Slow(CancellationToken token)
        {
            Interlocked.Increment(ref runs);
            return await gate.Task;
        }

        // The factory cannot finish while the gate is shut: the caller gets the fallback past the soft timeout.
        Assert.Equal(1, await fixture.Cache.GetOrSetAsync("post", Slow, TenSeconds));
        Assert.Equal(1, await fixture.Cache.GetOrSetAsync("post", Slow, TenSeconds));
        Assert.Equal(1, Volatile.Read(ref runs));
        Assert.Equal(2, fixture.Metrics.Sum("rc.cache.stale", static t => t["rc.stale.reason"] == "soft_timeout"));

        gate.SetResult(2);
        await Eventually.TrueAsync(async () => await fixture.Cache.GetAsync<int>("post") == 2);
        Assert.Equal(2, await fixture.Cache.GetOrSetAsync("post", Slow, TenSeconds));
        Assert.Equal(1, Volatile.Read(ref runs));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task HardTimeout_WithoutAFallback_IsTheFailure_AndTheFactoryStillStores(string store)
    {
        await using var fixture = await Fixture.StartAsync(store, o => o.FactoryHardTimeout = TimeSpan.FromMilliseconds(100));
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var timeout = await Assert.ThrowsAsync<TimeoutException>(async () => await fixture.Cache.GetOrSetAsync("post", async _ => await gate.Task, TenSeconds));
        Assert.Contains("FactoryHardTimeout", timeout.Message, StringComparison.Ordinal);

        gate.SetResult(5);
        await Eventually.TrueAsync(async () => await fixture.Cache.GetAsync<int>("post") == 5);
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task ALoadItsCallerGaveUpOn_IsNotJoined_TheNextCallerRunsItsOwnFactory(string store)
    {
        // A factory hangs past the hard timeout (a connection lost without a word, say): the caller after it must not
        // wait on it too, as FusionCache's do not.
        await using var fixture = await Fixture.StartAsync(store, o => o.FactoryHardTimeout = TimeSpan.FromSeconds(2));
        var hung = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        await Assert.ThrowsAsync<TimeoutException>(async () => await fixture.Cache.GetOrSetAsync("post", async _ => await hung.Task, TenSeconds));
        // (Its own hard timeout is long: the hung load, had it been joined, would answer nothing within it either.)
        var patient = new RcEntryOptions { Expiration = TimeSpan.FromSeconds(10), FactoryHardTimeout = TimeSpan.FromSeconds(30) };
        Assert.Equal(2, await fixture.Cache.GetOrSetAsync("post", static _ => ValueTask.FromResult(2), patient));

        // The hung factory ends at last: what it loaded is not written over the value loaded after it.
        hung.SetResult(1);
        var keyspace = ((RcCache)fixture.Cache).Keyspace;
        await Eventually.TrueAsync(() => Task.FromResult(keyspace.Watches == 0));
        Assert.Equal(2, await fixture.Cache.GetAsync<int>("post"));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task HardTimeout_WithAFallback_AnswersIt(string store)
    {
        await using var fixture = await Fixture.StartAsync(store, o => (o.FailSafe.MaxDuration, o.FactoryHardTimeout) = (TimeSpan.FromHours(1), TimeSpan.FromMilliseconds(100)));

        // Written, not loaded: a first load could itself pass the 100 ms hard timeout on a loaded machine.
        await fixture.Cache.SetAsync("post", 1, TenSeconds);
        await fixture.PassAsync(TimeSpan.FromSeconds(11));
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        Assert.Equal(1, await fixture.Cache.GetOrSetAsync("post", async _ => await gate.Task, TenSeconds));
        Assert.Equal(1, fixture.Metrics.Sum("rc.cache.stale", static t => t["rc.stale.reason"] == "hard_timeout"));
        gate.SetResult(2);
        await Eventually.TrueAsync(async () => await fixture.Cache.GetAsync<int>("post") == 2);
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task ASoftTimeoutNotShorterThanTheHardOne_IsIgnored_TheHardTimeoutAnswers(string store)
    {
        // The cache's hard timeout, and one entry's soft timeout far longer: no caller waits past the hard one.
        await using var fixture = await Fixture.StartAsync(store, o => (o.FailSafe.MaxDuration, o.FactoryHardTimeout) = (TimeSpan.FromHours(1), TimeSpan.FromMilliseconds(200)));
        var options = new RcEntryOptions { Expiration = TimeSpan.FromSeconds(10), FactorySoftTimeout = TimeSpan.FromHours(1) };
        await fixture.Cache.SetAsync("post", 1, options);
        await fixture.PassAsync(TimeSpan.FromSeconds(11));

        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var call = fixture.Cache.GetOrSetAsync("post", async _ => await gate.Task, options).AsTask();
        Assert.Same(call, await Task.WhenAny(call, Task.Delay(TimeSpan.FromSeconds(30))));
        Assert.Equal(1, await call);
        Assert.Equal(1, fixture.Metrics.Sum("rc.cache.stale", static t => t["rc.stale.reason"] == "hard_timeout"));
        gate.SetResult(2);
        await Eventually.TrueAsync(async () => await fixture.Cache.GetAsync<int>("post") == 2);
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task AFallbackRemovedBeforeTheSoftTimeout_LetsTheCallerWaitForTheFactory_UpToTheHardTimeout(string store)
    {
        await using var fixture = await Fixture.StartAsync(store, o => (o.FailSafe.MaxDuration, o.FactorySoftTimeout, o.FactoryHardTimeout) = (TimeSpan.FromHours(1), TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(5)));
        Assert.Equal(1, await fixture.Cache.GetOrSetAsync("post", static _ => ValueTask.FromResult(1), TenSeconds));
        await fixture.PassAsync(TimeSpan.FromSeconds(11));

        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var call = fixture.Cache.GetOrSetAsync("post", async _ => await gate.Task, TenSeconds).AsTask();
        await fixture.Cache.DeleteAsync("post");

        // Past the soft timeout the fallback is gone: the caller is not failed then, it waits for the factory.
        await Eventually.TrueAsync(() => Task.FromResult(fixture.Logs.Records.Any(static r => r.Id.Id == 304)));
        Assert.False(call.IsCompleted);
        gate.SetResult(2);
        Assert.Equal(2, await call);
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task AFactoryThatFailsAfterItsCallerWasAnswered_IsLogged(string store)
    {
        await using var fixture = await Fixture.StartAsync(store, o => o.FactoryHardTimeout = TimeSpan.FromMilliseconds(100));
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        await Assert.ThrowsAsync<TimeoutException>(async () => await fixture.Cache.GetOrSetAsync("post", async _ => await gate.Task, TenSeconds));
        gate.SetException(new InvalidOperationException("the database is down"));
        await Eventually.TrueAsync(() => Task.FromResult(fixture.Logs.Records.Any(static r => r.Id.Id == 305)));
    }

    [Fact]
    public async Task AFactoryThatFailsAfterManyCallersStoppedWaiting_IsLoggedOnce()
    {
        // Each caller past the soft timeout is answered with the fallback and leaves the load running: its failure is
        // reported once for the load, not once per caller (a hung factory would otherwise hold one continuation for each).
        await using var fixture = await Fixture.StartAsync("memory", o => (o.FailSafe.MaxDuration, o.FactorySoftTimeout) = (TimeSpan.FromHours(1), TimeSpan.FromMilliseconds(50)));
        await fixture.Cache.SetAsync("post", 1, TenSeconds);
        await fixture.PassAsync(TimeSpan.FromSeconds(11));
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(1, await fixture.Cache.GetOrSetAsync("post", async _ => await gate.Task, TenSeconds));
        }

        Assert.Equal(3, fixture.Metrics.Sum("rc.cache.stale", static t => t["rc.stale.reason"] == "soft_timeout"));
        gate.SetException(new InvalidOperationException("the database is down"));
        var keyspace = ((RcCache)fixture.Cache).Keyspace;
        await Eventually.TrueAsync(() => Task.FromResult(keyspace.Watches == 0));
        Assert.Single(fixture.Logs.Records, static r => r.Id.Id == 305);
    }

    [Fact]
    public async Task AFactoryThatFailsAfterEveryCallerLeft_LeavesNoUnobservedException()
    {
        var message = $"the database is down {Guid.NewGuid():N}";
        var unobserved = 0;
        EventHandler<UnobservedTaskExceptionEventArgs> count = (_, e) =>
        {
            if (e.Exception.InnerExceptions.Any(x => x.Message == message))
            {
                Interlocked.Increment(ref unobserved);
            }
        };
        TaskScheduler.UnobservedTaskException += count;
        try
        {
            await using var fixture = await Fixture.StartAsync("memory", static _ => { });
            var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
            using (var leave = new CancellationTokenSource())
            {
                // The factory ignores its token, as one that sends a query without it does.
                var call = fixture.Cache.GetOrSetAsync("post", async _ => await gate.Task, TenSeconds, leave.Token).AsTask();
                await leave.CancelAsync();
                await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
            }

            gate.SetException(new InvalidOperationException(message));
            var keyspace = ((RcCache)fixture.Cache).Keyspace;
            await Eventually.TrueAsync(() => Task.FromResult(keyspace.Watches == 0));
            gate = null;
            for (var i = 0; i < 3; i++)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }

            Assert.Equal(0, Volatile.Read(ref unobserved));
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= count;
        }
    }

    [Fact]
    public async Task AFactoryThatCancelsItself_FailsItsCallerWithItsOwnException()
    {
        // An HTTP client's timeout, say: not a caller's cancellation, and its detail reaches the caller.
        await using var fixture = await Fixture.StartAsync("memory", static _ => { });
        var thrown = await Assert.ThrowsAsync<TaskCanceledException>(async () => await fixture.Cache.GetOrSetAsync<int>(
            "post", static _ => throw new TaskCanceledException("the source timed out", new TimeoutException()), TenSeconds));
        Assert.IsType<TimeoutException>(thrown.InnerException);
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task EagerRefresh_NoReaderRunsTheFactory_AndTheEntryIsRefreshedInTheBackground(string store)
    {
        await using var fixture = await Fixture.StartAsync(store, o => o.EagerRefreshThreshold = 0.5);
        // A long lifetime: the entry's TTL in Redis, which real time also shortens, outlasts a loaded machine's pauses.
        var hundred = new RcEntryOptions { Expiration = TimeSpan.FromSeconds(100) };
        var version = 1;
        var runs = 0;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        gate.SetResult();
        async ValueTask<int> Factory(CancellationToken token)
        {
            Interlocked.Increment(ref runs);
            await Volatile.Read(ref gate).Task;
            return Volatile.Read(ref version);
        }

        Assert.Equal(1, await fixture.Cache.GetOrSetAsync("hot", Factory, hundred));
        for (var round = 2; round <= 4; round++)
        {
            // Before the threshold: a hit, nothing refreshed.
            await fixture.PassAsync(TimeSpan.FromSeconds(40));
            Assert.Equal(round - 1, await fixture.Cache.GetOrSetAsync("hot", Factory, hundred));
            Assert.Equal(round - 1, Volatile.Read(ref runs));

            // Past it, with the factory held shut: every reader gets the entry at once, and one refresh runs.
            Volatile.Write(ref gate, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
            Volatile.Write(ref version, round);
            await fixture.PassAsync(TimeSpan.FromSeconds(20));
            var readers = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => fixture.Cache.GetOrSetAsync("hot", Factory, hundred).AsTask())).WaitAsync(TimeSpan.FromSeconds(30));
            Assert.All(readers, r => Assert.Equal(round - 1, r));

            // The refresh runs in the background (in a flow of its own), so it may start after the readers are answered.
            await Eventually.TrueAsync(() => Task.FromResult(Volatile.Read(ref runs) >= round));
            Assert.Equal(round, Volatile.Read(ref runs));

            gate.SetResult();
            await Eventually.TrueAsync(async () => await fixture.Cache.GetAsync<int>("hot") == round);
            await Eventually.TrueAsync(() => Task.FromResult(!fixture.Loader.IsLoading(fixture.Namespace + "hot")));
        }
    }

    [Fact]
    public async Task EagerRefresh_ThatFails_IsNotTriedAgainUntilTheThrottleEnds()
    {
        // The source is down: a refresh per hit would hammer it, as fail-safe's throttle keeps loads from doing.
        await using var fixture = await Fixture.StartAsync("memory", o => (o.EagerRefreshThreshold, o.FailSafe.ThrottleDuration) = (0.5, TimeSpan.FromSeconds(30)));
        var hundred = new RcEntryOptions { Expiration = TimeSpan.FromSeconds(100) };
        var source = new Source();
        Assert.Equal(1, await fixture.Cache.GetOrSetAsync("hot", source.Next, hundred));
        source.Failing = true;
        await fixture.PassAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(1, await fixture.Cache.GetOrSetAsync("hot", source.Next, hundred));
        await Eventually.TrueAsync(() => Task.FromResult(source.Runs == 2 && !fixture.Loader.IsLoading(fixture.Namespace + "hot")));
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(1, await fixture.Cache.GetOrSetAsync("hot", source.Next, hundred));
        }

        Assert.False(fixture.Loader.IsLoading(fixture.Namespace + "hot"));
        Assert.Equal(2, source.Runs);

        // Past the throttle, the next hit refreshes again.
        await fixture.PassAsync(TimeSpan.FromSeconds(31));
        source.Failing = false;
        Assert.Equal(1, await fixture.Cache.GetOrSetAsync("hot", source.Next, hundred));
        await Eventually.TrueAsync(async () => await fixture.Cache.GetAsync<int>("hot") == 3);
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task EagerRefresh_AReadThatFoundTheEntryBeforeARefreshReplacedIt_RefreshesNothing(string store)
    {
        await using var fixture = await Fixture.StartAsync(store, o => o.EagerRefreshThreshold = 0.5);
        // A long lifetime: the entry's TTL in Redis, which real time also shortens, outlasts a loaded machine's pauses.
        var hundred = new RcEntryOptions { Expiration = TimeSpan.FromSeconds(100) };
        var runs = 0;
        ValueTask<int> Factory(CancellationToken token) => ValueTask.FromResult(Interlocked.Increment(ref runs));

        Assert.Equal(1, await fixture.Cache.GetOrSetAsync("hot", Factory, hundred));
        await fixture.PassAsync(TimeSpan.FromSeconds(60));

        // A read past the threshold; what it found is answered only after a refresh replaced it (the answer of a read
        // under way, as a loaded machine can order them).
        var (late, found, header) = await fixture.ReadAsync("hot", Factory, hundred);
        Assert.Equal(1, await fixture.Cache.GetOrSetAsync("hot", Factory, hundred));
        await Eventually.TrueAsync(async () => await fixture.Cache.GetAsync<int>("hot") == 2);
        await Eventually.TrueAsync(() => Task.FromResult(!fixture.Loader.IsLoading(fixture.Namespace + "hot")));

        Assert.Equal((1, RcAspNet.Caching.LoadOutcome.Hit), await fixture.Loader.AnswerAsync(late, found, header, CancellationToken.None) is var loaded ? (loaded.Value, loaded.Outcome) : default);

        // Its refresh finds the entry newer than what the read found, and leaves it: the factory ran twice, not three times.
        await Eventually.TrueAsync(() => Task.FromResult(!fixture.Loader.IsLoading(fixture.Namespace + "hot")));
        Assert.Equal(2, Volatile.Read(ref runs));
        Assert.Equal(2, await fixture.Cache.GetAsync<int>("hot"));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task NamedCaches_TakeTheirOwnLoadingSettings_OverTheDefaultCaches(string store)
    {
        // Fail-safe off for the default cache, on for "pages"; on for the default cache, and "feeds" that turns it off.
        await using var fixture = await Fixture.StartAsync(store, o =>
        {
            o.Caches["pages"] = new RcNamedCacheOptions { FailSafe = new RcFailSafeOptions { MaxDuration = TimeSpan.FromHours(1) } };
            o.Caches["feeds"] = new RcNamedCacheOptions { FactoryHardTimeout = TimeSpan.FromMilliseconds(200) };
        });
        var pages = fixture.Named("pages");
        var feeds = fixture.Named("feeds");
        var source = new Source();
        Assert.Equal(1, await pages.GetOrSetAsync("post", source.Next, TenSeconds));
        Assert.Equal(2, await fixture.Cache.GetOrSetAsync("post", source.Next, TenSeconds));

        await fixture.PassAsync(TimeSpan.FromSeconds(11));
        source.Failing = true;
        Assert.Equal(1, await pages.GetOrSetAsync("post", source.Next, TenSeconds));
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await fixture.Cache.GetOrSetAsync("post", source.Next, TenSeconds));

        // The hard timeout is the named cache's alone: its caller is answered, the default cache's caller waits.
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var timedOut = feeds.GetOrSetAsync("feed", _ => new ValueTask<int>(gate.Task), TenSeconds).AsTask();
        Assert.Same(timedOut, await Task.WhenAny(timedOut, Task.Delay(TimeSpan.FromSeconds(30))));
        await Assert.ThrowsAsync<TimeoutException>(() => timedOut);
        var waiting = fixture.Cache.GetOrSetAsync("feed", _ => new ValueTask<int>(gate.Task), TenSeconds).AsTask();
        await Task.Delay(400);
        Assert.False(waiting.IsCompleted);
        gate.SetResult(7);
        Assert.Equal(7, await waiting);
        await Eventually.TrueAsync(async () => await feeds.GetAsync<int>("feed") == 7);
    }

    public static TheoryData<string, string> StoresAndRemovals => new()
    {
        { "memory", "clear" }, { "memory", "delete" }, { "redis", "clear" }, { "redis", "delete" },
        { "shards", "clear" }, { "shards", "delete" }, { "cluster", "clear" }, { "cluster", "delete" },
    };

    [Theory]
    [MemberData(nameof(StoresAndRemovals))]
    public async Task ARemovalThroughTheDefaultCache_OfANamedCachesKey_KeepsItsLoadFromBeingJoinedAfter(string store, string removal)
    {
        // "pages" has the namespace {default's}pages:, so the default cache's clear covers its keys, and its key "post" is
        // the default cache's "pages:post". A load of pages that began before the removal must not answer a read after it.
        await using var fixture = await Fixture.StartAsync(store, static o => o.Caches["pages"] = new RcNamedCacheOptions());
        var pages = fixture.Named("pages");
        var (started, gate) = (new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        var before = pages.GetOrSetAsync(
            "post",
            async _ =>
            {
                started.SetResult();
                await gate.Task;
                return 1;
            },
            TenSeconds).AsTask();
        await started.Task;

        await (removal == "clear" ? fixture.Cache.ClearAsync() : fixture.Cache.DeleteAsync("pages:post"));

        // Begun after the removal returned: it loads for itself (joining the gated load, it would wait for the gate).
        Assert.Equal(2, await pages.GetOrSetAsync("post", static _ => ValueTask.FromResult(2), TenSeconds).AsTask().WaitAsync(TimeSpan.FromSeconds(30)));
        gate.SetResult();
        Assert.Equal(1, await before);
        Assert.Equal(2, await pages.GetAsync<int>("post"));
    }

    [Theory]
    [InlineData("redis")]
    [InlineData("shards")]
    [InlineData("cluster")]
    public async Task AFillWithoutALease_IsNotWrittenOverARemovalThroughAnotherCache(string store)
    {
        // A key with a } and no hash tag has no fill lease on Redis: only this process's log of changes keeps its fill
        // from landing over a removal made while its factory ran, whichever cache made it.
        await using var fixture = await Fixture.StartAsync(store, static o => o.Caches["pages"] = new RcNamedCacheOptions());
        var pages = fixture.Named("pages");
        var (started, gate) = (new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        var before = pages.GetOrSetAsync(
            "post}",
            async _ =>
            {
                started.SetResult();
                await gate.Task;
                return 1;
            },
            TenSeconds).AsTask();
        await started.Task;

        await fixture.Cache.DeleteAsync("pages:post}");
        gate.SetResult();
        Assert.Equal(1, await before);
        Assert.Equal(0, await pages.GetAsync<int>("post}"));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task TwoCachesOfOneNamespace_ATagInvalidatedThroughOne_KeepsTheOthersLoadFromBeingJoinedAfter(string store)
    {
        await using var fixture = await Fixture.StartAsync(store, static o =>
        {
            o.Caches["pages"] = new RcNamedCacheOptions { Namespace = o.Namespace + "shared:" };
            o.Caches["admin"] = new RcNamedCacheOptions { Namespace = o.Namespace + "shared:" };
        });
        var (pages, admin) = (fixture.Named("pages"), fixture.Named("admin"));
        var tagged = new RcEntryOptions { Expiration = TimeSpan.FromSeconds(10), Tags = ["post:1"] };
        var (started, gate) = (new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        var before = pages.GetOrSetAsync(
            "post",
            async _ =>
            {
                started.SetResult();
                await gate.Task;
                return 1;
            },
            tagged).AsTask();
        await started.Task;

        await admin.InvalidateTagAsync("post:1");

        Assert.Equal(2, await pages.GetOrSetAsync("post", static _ => ValueTask.FromResult(2), tagged).AsTask().WaitAsync(TimeSpan.FromSeconds(30)));
        gate.SetResult();
        Assert.Equal(1, await before);
        Assert.Equal(2, await pages.GetAsync<int>("post"));
    }

    [Fact]
    public async Task BadEntryOptions_AreArgumentErrorsNamingTheSetting()
    {
        await using var fixture = await Fixture.StartAsync("memory", static _ => { });
        var error = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () =>
            await fixture.Cache.GetOrSetAsync("k", static _ => ValueTask.FromResult(1), new RcEntryOptions { EagerRefreshThreshold = 1.5 }));
        Assert.Contains("EagerRefreshThreshold", error.Message, StringComparison.Ordinal);
        error = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () =>
            await fixture.Cache.GetOrSetAsync("k", static _ => ValueTask.FromResult(1), new RcEntryOptions { FactorySoftTimeout = TimeSpan.FromSeconds(-1) }));
        Assert.Contains("FactorySoftTimeout", error.Message, StringComparison.Ordinal);

        // In the returned task, not thrown by the call: a caller that starts many and awaits them later sees it there.
        var started = fixture.Cache.GetOrSetAsync("k", static _ => ValueTask.FromResult(1), new RcEntryOptions { EagerRefreshThreshold = 1.5 });
        Assert.True(started.IsFaulted);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await started);
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task ALoadThatStoredItsValueBetweenAReadAndItsAnswer_IsReadBack_NotRunAgain(string store)
    {
        await using var fixture = await Fixture.StartAsync(store, o => o.FailSafe.MaxDuration = TimeSpan.FromHours(1));
        var source = new Source();
        var key = fixture.Namespace + "post";

        // A read, answered only after another caller's load of the key stored its value and left (as a loaded machine can
        // order them): there is no load to join any more. Returns what the late caller is answered.
        async Task<int> ReadThenLoadElsewhereAsync(bool readFindsAFallback, int loaded, bool removeAfter = false)
        {
            var (late, found, header) = await fixture.ReadAsync("post", source.Next, TenSeconds);
            Assert.Equal(readFindsAFallback, found is not null);
            Assert.Equal(loaded, await fixture.Cache.GetOrSetAsync("post", source.Next, TenSeconds));
            await Eventually.TrueAsync(() => Task.FromResult(!fixture.Loader.IsLoading(key)));
            if (removeAfter)
            {
                Assert.Equal(1, (await fixture.Cache.DeleteAsync("post")).Removed);
            }

            return (await fixture.Loader.AnswerAsync(late, found, header, CancellationToken.None)).Value;
        }

        // A read that missed: the value is read back, not loaded again.
        Assert.Equal((1, 1), (await ReadThenLoadElsewhereAsync(readFindsAFallback: false, 1), source.Runs));

        // The same for a read that found the entry past its freshness (a fallback, as a soft timeout serves).
        await fixture.PassAsync(TimeSpan.FromSeconds(11));
        Assert.Equal((2, 2), (await ReadThenLoadElsewhereAsync(readFindsAFallback: true, 2), source.Runs));

        // What is read back is the store's, not the ended load's: a removal after that load ended is not undone. (This
        // step holds with or without the read back; the two above fail without it, the factory running again.)
        await fixture.PassAsync(TimeSpan.FromSeconds(11));
        Assert.Equal((4, 4), (await ReadThenLoadElsewhereAsync(readFindsAFallback: true, 3, removeAfter: true), source.Runs));
        Assert.Equal(4, await fixture.Cache.GetAsync<int>("post"));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task ARemovalOrReplacementWhileAFactoryRuns_IsNotUndoneByItsFill_NorIsItsLoadJoinedAfter(string store)
    {
        await using var fixture = await Fixture.StartAsync(store, static _ => { });
        var cache = fixture.Cache;
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        ValueTask<int> OldVersion(CancellationToken _) => Wait(started, release, 1);

        // The post changes while its old version loads: the application removes the cached one.
        var first = cache.GetOrSetAsync("post", OldVersion, TenSeconds).AsTask();
        await started.Task;
        Assert.Equal(0, (await cache.DeleteAsync("post")).Removed);

        // A read that begins after the removal does not join the load begun before it: it loads (and stores) its own.
        Assert.Equal(2, await cache.GetOrSetAsync("post", static _ => ValueTask.FromResult(2), TenSeconds).AsTask().WaitAsync(TimeSpan.FromSeconds(30)));
        release.SetResult();
        Assert.Equal(1, await first);
        Assert.Equal(2, await cache.GetAsync<int?>("post"));

        // A replacement while the old version loads, and no reader after: the old version is not written over it.
        (started, release) = (new(TaskCreationOptions.RunContinuationsAsynchronously), new(TaskCreationOptions.RunContinuationsAsynchronously));
        var refill = cache.GetOrSetAsync("page", OldVersion, TenSeconds).AsTask();
        await started.Task;
        await cache.SetAsync("page", 3, TenSeconds);
        release.SetResult();
        Assert.Equal(1, await refill);
        Assert.Equal(3, await cache.GetAsync<int?>("page"));

        static async ValueTask<int> Wait(TaskCompletionSource started, TaskCompletionSource release, int value)
        {
            started.SetResult();
            await release.Task;
            return value;
        }
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task AnExpirationThatIsNotPositive_IsRefusedBeforeTheFactoryRuns(string store)
    {
        await using var fixture = await Fixture.StartAsync(store, static _ => { });
        var runs = 0;
        var error = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () =>
            await fixture.Cache.GetOrSetAsync("k", _ => ValueTask.FromResult(++runs), new RcEntryOptions { Expiration = TimeSpan.Zero }));
        Assert.Contains("RcEntryOptions.Expiration must be positive", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, runs);
    }

    /// <summary>
    /// A tag invalidated while a factory of an entry that carries it runs: a read that begins after the invalidation does
    /// not join that load (it loads its own), and the load's value is not stored; a load of another tag is still joined,
    /// even of a tag of the same stripe, and stored.
    /// </summary>
    [Theory]
    [MemberData(nameof(Stores))]
    public async Task ATagInvalidatedWhileAFactoryRuns_ItsLoadIsNotJoinedAfter(string store)
    {
        await using var fixture = await Fixture.StartAsync(store, static _ => { });
        var cache = fixture.Cache;
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var post = new RcEntryOptions { Expiration = TimeSpan.FromSeconds(10), Tags = ["post:1"] };
        var unrelated = Enumerable.Range(2, 100).Select(static i => $"post:{i}").First(static t => KeyStripes.Of(t) != KeyStripes.Of("post:1"));
        var other = new RcEntryOptions { Expiration = TimeSpan.FromSeconds(10), Tags = [unrelated] };
        async ValueTask<int> OldVersion(CancellationToken _)
        {
            started.SetResult();
            await release.Task;
            return 1;
        }

        var first = cache.GetOrSetAsync("post", OldVersion, post).AsTask();
        await started.Task;
        await cache.InvalidateTagAsync("post:1");

        // Begun after the invalidation: its own load, not the one begun before.
        Assert.Equal(2, await cache.GetOrSetAsync("post", static _ => ValueTask.FromResult(2), post).AsTask().WaitAsync(TimeSpan.FromSeconds(30)));
        release.SetResult();
        Assert.Equal(1, await first);
        Assert.Equal(2, await cache.GetAsync<int?>("post"));

        // Another tag's invalidation leaves a load joinable.
        (started, release) = (new(TaskCreationOptions.RunContinuationsAsynchronously), new(TaskCreationOptions.RunContinuationsAsynchronously));
        var load = cache.GetOrSetAsync("page", OldVersion, other).AsTask();
        await started.Task;
        await cache.InvalidateTagAsync("post:1");
        var joined = cache.GetOrSetAsync("page", static _ => ValueTask.FromResult(2), other).AsTask();
        await Eventually.TrueAsync(() => Task.FromResult(((RcCache)cache).LoadWaiters<int>("page") == 2));
        release.SetResult();
        Assert.Equal((1, 1), (await load, await joined));

        // So does an invalidation of another tag of its stripe (what this process records without a record per tag).
        var neighbour = Enumerable.Range(0, 10_000_000).Select(static i => $"tag-{i}").First(t => KeyStripes.Of(t) == KeyStripes.Of(unrelated));
        (started, release) = (new(TaskCreationOptions.RunContinuationsAsynchronously), new(TaskCreationOptions.RunContinuationsAsynchronously));
        load = cache.GetOrSetAsync("digest", OldVersion, other).AsTask();
        await started.Task;
        await cache.InvalidateTagAsync(neighbour);
        joined = cache.GetOrSetAsync("digest", static _ => ValueTask.FromResult(2), other).AsTask();
        await Eventually.TrueAsync(() => Task.FromResult(((RcCache)cache).LoadWaiters<int>("digest") == 2));
        release.SetResult();
        Assert.Equal((1, 1), (await load, await joined));
        Assert.Equal(1, await cache.GetAsync<int?>("digest"));
    }

    /// <summary>
    /// A load that began while a removal of its key was on its way (counted, not yet applied by the server) may have read
    /// the store before the removal reached it: a read that begins after the removal returned does not join it, and what
    /// it loads is not written over the removal.
    /// </summary>
    [Fact]
    public async Task ALoadBegunWhileARemovalWasOnItsWay_IsNotJoinedByAReadAfterTheRemovalReturned()
    {
        await using var server = await RedisServer.StartAsync();
        await using var services = TestServices.Build(o =>
        {
            TestServices.Redis(o, server);
            o.Namespace = SharedRedis.UniqueNamespace();
            o.OperationTimeout = TimeSpan.FromSeconds(60);
        });
        var cache = services.GetRequiredService<IRcCache>();
        var rc = (RcCache)cache;
        await cache.GetAsync<int?>("warm-up");
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var runs = 0;
        async ValueTask<int> Before(CancellationToken _)
        {
            Interlocked.Increment(ref runs);
            started.TrySetResult();
            await release.Task;
            return 1;
        }

        // The server holds back writes: the removal (synchronous, on a connection of its own, so that reads go on) is
        // counted here and waits there; a read misses and starts a load.
        var key = rc.NamespacedKey("post");
        var unchanged = rc.Keyspace.ChangeMark(key);
        await server.CommandAsync("CLIENT", "PAUSE", "60000", "WRITE");
        Task removal;
        Task<int> load;
        try
        {
            removal = Task.Run(() => services.GetRequiredService<IDistributedCache>().Remove("post"));
            await Eventually.TrueAsync(() => Task.FromResult(rc.Keyspace.ChangeMark(key) != unchanged));
            load = cache.GetOrSetAsync("post", Before).AsTask();
            await Eventually.TrueAsync(() => Task.FromResult(rc.LoadWaiters<int>("post") == 1));
            Assert.False(removal.IsCompleted);
        }
        finally
        {
            await server.CommandAsync("CLIENT", "UNPAUSE");
        }

        await removal.WaitAsync(TimeSpan.FromSeconds(30));
        await started.Task.WaitAsync(TimeSpan.FromSeconds(30));

        // Begun after the removal returned: its own load, not the one begun before the removal reached the server.
        Assert.Equal(2, await cache.GetOrSetAsync("post", static _ => ValueTask.FromResult(2)).AsTask().WaitAsync(TimeSpan.FromSeconds(30)));
        release.SetResult();
        Assert.Equal(1, await load.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(1, runs);
        Assert.Equal(2, await cache.GetAsync<int?>("post"));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task ALoadWithANullTag_FailsNamingIt_AndLeavesNothingWatched(string store)
    {
        await using var fixture = await Fixture.StartAsync(store, static _ => { });
        var rc = (RcCache)fixture.Cache;
        var options = new RcEntryOptions { Expiration = TimeSpan.FromSeconds(10), Tags = ["post:1", null!] };

        var error = await Assert.ThrowsAnyAsync<ArgumentException>(() => rc.GetOrSetAsync("post", static _ => ValueTask.FromResult(1), options).AsTask());
        Assert.Equal("tag", error.ParamName);
        await Eventually.TrueAsync(() => Task.FromResult(rc.Keyspace.Watches == 0));
        Assert.Null(await rc.GetAsync<int?>("post"));
    }

    /// <summary>
    /// A key of <paramref name="key"/>'s stripe (<see cref="KeyStripes"/>), but not of its stripe of the embedded store's
    /// fill leases (16,384 of the same hash), whose removals revoke each other's leases: that store's stated cost.
    /// </summary>
    private static string Neighbour(RcCache cache, string key)
    {
        var hash = cache.NamespacedKey(key).GetHashCode();
        return Enumerable.Range(0, 10_000_000).Select(static i => $"neighbour-{i}").First(k =>
            cache.NamespacedKey(k).GetHashCode() is var other && KeyStripes.Of(cache.NamespacedKey(k)) == KeyStripes.Of(cache.NamespacedKey(key)) && (other & 16383) != (hash & 16383));
    }

    /// <summary>
    /// Changes to another key that shares the loading key's stripe (what this process records without a record per key):
    /// the load is still joined, its factory runs once, and its value is stored. They counted as changes of the key.
    /// </summary>
    [Theory]
    [MemberData(nameof(Stores))]
    public async Task ChangesToAnotherKeyOfItsStripe_LeaveARunningLoadJoinable_AndItsValueStored(string store)
    {
        await using var fixture = await Fixture.StartAsync(store, static _ => { });
        var cache = fixture.Cache;
        var rc = (RcCache)cache;
        var page = rc.NamespacedKey("page");
        var neighbour = Neighbour(rc, "page");
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var runs = 0;
        async ValueTask<int> Render(CancellationToken _)
        {
            Interlocked.Increment(ref runs);
            started.TrySetResult();
            await release.Task;
            return 1;
        }

        var load = cache.GetOrSetAsync("page", Render).AsTask();
        await started.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await cache.SetAsync(neighbour, 7);
        await cache.DeleteAsync(neighbour);
        var joined = cache.GetOrSetAsync("page", Render).AsTask();
        await Eventually.TrueAsync(() => Task.FromResult(rc.Loader.Waiters<int>(page) == 2));
        release.SetResult();

        Assert.Equal((1, 1), (await load, await joined));
        Assert.Equal(1, runs);
        Assert.Equal(1, await cache.GetAsync<int?>("page"));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task ARemovalOrReplacementWhileABatchLoads_IsNotUndoneByItsWrite(string store)
    {
        await using var fixture = await Fixture.StartAsync(store, static _ => { });
        var cache = fixture.Cache;

        // The post changes while the batch loads its old version: the application removes the cached one.
        Assert.Equal(1, await LoadWhileAsync("post", () => cache.DeleteAsync("post").AsTask()));
        Assert.Null(await cache.GetAsync<int?>("post"));

        // The page is replaced while the batch loads its old version.
        Assert.Equal(1, await LoadWhileAsync("page", () => cache.SetAsync("page", 3, TenSeconds).AsTask()));
        Assert.Equal(3, await cache.GetAsync<int?>("page"));

        // Without a change, the batch's load is written.
        Assert.Equal(1, await LoadWhileAsync("news", static () => Task.CompletedTask));
        Assert.Equal(1, await cache.GetAsync<int?>("news"));

        // A change to another key of its stripe is not a change of it.
        var rc = (RcCache)cache;
        var neighbour = Neighbour(rc, "digest");
        Assert.Equal(1, await LoadWhileAsync("digest", () => cache.DeleteAsync(neighbour).AsTask()));
        Assert.Equal(1, await cache.GetAsync<int?>("digest"));

        async Task<int> LoadWhileAsync(string key, Func<Task> change)
        {
            var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            await using var scope = fixture.CreateScope();
            var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
            var promise = batch.Load(
                key,
                async _ =>
                {
                    started.SetResult();
                    await release.Task;
                    return 1;
                },
                TenSeconds);
            var flush = batch.FlushAsync();
            await started.Task.WaitAsync(TimeSpan.FromSeconds(30));
            await change();
            release.SetResult();
            await flush.WaitAsync(TimeSpan.FromSeconds(30));
            return promise.Value;
        }
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task AFillWhoseTagWasInvalidatedWhileItsFactoryRan_IsNeverWritten(string store)
    {
        // The invalidation finishes while the factory runs: written, the value would be readable until the check after
        // the write removed it.
        await using var fixture = await Fixture.StartAsync(store, static _ => { });
        var post = new RcEntryOptions { Tags = ["post:1"], Expiration = TimeSpan.FromMinutes(10) };
        var sets = fixture.Sets();
        var value = await fixture.Cache.GetOrSetAsync(
            "post",
            async ct =>
            {
                await fixture.Cache.InvalidateTagAsync("post:1", ct);
                return 1;
            },
            post);
        Assert.Equal(1, value);
        Assert.Null(await fixture.Cache.GetAsync<int?>("post"));
        var redis = store != "memory"; // the memory store measures no operations: there, only the reads after are checked
        Assert.True(!redis || fixture.Sets() == sets, "The fill was written.");

        // In a batch too.
        await using var scope = fixture.CreateScope();
        var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
        var promise = batch.Load(
            "page",
            async ct =>
            {
                await fixture.Cache.InvalidateTagAsync("post:1", ct);
                return 2;
            },
            post);
        await batch.FlushAsync();
        Assert.Equal(2, promise.Value);
        Assert.Null(await fixture.Cache.GetAsync<int?>("page"));
        Assert.True(!redis || fixture.Sets() == sets, "The batch's fill was written.");
    }

    [Fact]
    public async Task AMissWithNoLoadEndedSinceItsRead_IsReadOnce()
    {
        // The read back costs a GET only when a load ended since the read began: a miss after an earlier load's end reads once.
        await using var fixture = await Fixture.StartAsync("redis", o => o.FailSafe.MaxDuration = TimeSpan.FromHours(1));
        var source = new Source();
        await fixture.LoadAndRemoveAsync("post", source.Next, TenSeconds);

        var gets = fixture.Gets();
        Assert.Equal(2, await fixture.Cache.GetOrSetAsync("post", source.Next, TenSeconds));
        Assert.Equal(1, fixture.Gets() - gets);
    }

    [Fact]
    public async Task ABatchMissWithNoLoadEndedSinceItsRead_IsReadOnlyByTheFlushesMget()
    {
        // Its lookups go through the loader (fail-safe is on); a load of the key ended before the flush began.
        await using var fixture = await Fixture.StartAsync("redis", o => o.FailSafe.MaxDuration = TimeSpan.FromHours(1));
        var source = new Source();
        await fixture.LoadAndRemoveAsync("post", source.Next, TenSeconds);

        await using var scope = fixture.CreateScope();
        var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
        var gets = fixture.Gets();
        var promise = batch.Load("post", source.Next, TenSeconds);
        await batch.FlushAsync();
        Assert.Equal((2, 0), (promise.Value, fixture.Gets() - gets));
    }

    /// <summary>A source that counts its runs and fails while told to; each success returns the next version.</summary>
    private sealed class Source
    {
        private int _runs;

        public bool Failing { get; set; }

        public int Runs => Volatile.Read(ref _runs);

        public ValueTask<int> Next(CancellationToken token)
        {
            var run = Interlocked.Increment(ref _runs);
            return Failing ? throw new InvalidOperationException("the database is down") : ValueTask.FromResult(run);
        }
    }

    /// <summary>A cache on one of the stores, with a fake clock and the meter and log it reports to.</summary>
    private sealed class Fixture : IAsyncDisposable
    {
        private readonly ServiceProvider _services;

        private Fixture(ServiceProvider services, ManualTimeProvider clock, string ns, RedisServer[] servers, string redisEndPoints, LogRecorder logs)
        {
            _services = services;
            Clock = clock;
            Namespace = ns;
            Servers = servers;
            RedisEndPoints = redisEndPoints;
            Logs = logs;
            Cache = services.GetRequiredService<IRcCache>();
            Metrics = new MetricsRecorder(services);
        }

        public IRcCache Cache { get; }

        public ManualTimeProvider Clock { get; }

        public string Namespace { get; }

        public RedisServer[] Servers { get; }

        public string RedisEndPoints { get; }

        public MetricsRecorder Metrics { get; }

        public LogRecorder Logs { get; }

        internal Loader Loader => ((RcCache)Cache).Loader;

        public IRcCache Named(string name) => _services.GetRequiredKeyedService<IRcCache>(name);

        public static async Task<Fixture> StartAsync(string store, Action<RcOptions> configure)
        {
            var ns = SharedRedis.UniqueNamespace();
            RedisServer[] servers = [];
            string endPoints = "";
            var clock = new ManualTimeProvider(DateTimeOffset.UtcNow);
            var logs = new LogRecorder();
            Action<RcOptions> where;
            switch (store)
            {
                case "redis":
                    var single = await SharedRedis.Single;
                    (servers, endPoints) = ([single], single.EndPoint);
                    where = o => TestServices.Redis(o, single);
                    break;
                case "shards":
                    var shards = await SharedRedis.Shards;
                    (servers, endPoints) = (shards, string.Join(",", shards.Select(static s => s.EndPoint)));
                    where = o => TestServices.Sharded(o, shards);
                    break;
                case "cluster":
                    var cluster = await SharedRedis.Cluster;
                    (servers, endPoints) = ([.. cluster.Nodes], cluster.Configuration);
                    where = o => (o.Store, o.Redis) = (RcStoreKind.Redis, cluster.Configuration);
                    break;
                default:
                    where = static o => o.Store = RcStoreKind.Memory;
                    break;
            }

            var services = TestServices.Build(
                o =>
                {
                    where(o);
                    o.Namespace = ns;
                    o.OperationTimeout = TimeSpan.FromSeconds(10);
                    configure(o);
                },
                s => s.AddSingleton<TimeProvider>(clock).AddLogging(b => b.AddProvider(logs)));
            return new Fixture(services, clock, ns, servers, endPoints, logs);
        }

        public AsyncServiceScope CreateScope() => _services.CreateAsyncScope();

        /// <summary>Loads a key (its load ends), then removes it: the next read of it misses, after a load of it ended.</summary>
        public async Task LoadAndRemoveAsync(string key, Func<CancellationToken, ValueTask<int>> factory, RcEntryOptions options)
        {
            await Cache.GetOrSetAsync(key, factory, options);
            await Eventually.TrueAsync(() => Task.FromResult(!Loader.IsLoading(Namespace + key)));
            Assert.Equal(1, (await Cache.DeleteAsync(key)).Removed);
        }

        /// <summary>How many writes of entries the store has made (one per SET, and one per multi-key write).</summary>
        public int Sets() => Metrics.Measurements.Count(static m => m.Name == "rc.store.operation.duration" && m.Tags.GetValueOrDefault("rc.operation") is "set" or "set_many");

        /// <summary>How many GETs the store has sent (each key of a multi-key read is not one).</summary>
        public int Gets() => Metrics.Measurements.Count(static m => m.Name == "rc.store.operation.duration" && m.Tags.GetValueOrDefault("rc.operation") == "get");

        /// <summary>A load request of an <see cref="int"/>, as <c>GetOrSetAsync</c> makes one.</summary>
        internal LoadRequest<int> Request(string key, Func<CancellationToken, ValueTask<int>> factory, RcEntryOptions options) =>
            new(key, Namespace + key, factory, options, Loader.Resolve(options), static v => JsonSerializer.SerializeToUtf8Bytes(v), static (ReadOnlyMemory<byte> bytes, out int value) =>
            {
                value = JsonSerializer.Deserialize<int>(bytes.Span);
                return true;
            });

        /// <summary>What <see cref="Loader.GetOrLoadAsync"/> reads before it answers: a request, and the entry as the store has it now.</summary>
        internal async Task<(LoadRequest<int> Request, ReadOnlyMemory<byte>? Value, EntryHeader Header)> ReadAsync(string key, Func<CancellationToken, ValueTask<int>> factory, RcEntryOptions options)
        {
            var request = Request(key, factory, options);
            request.LoadsEndedAtRead = Loader.LoadsEnded;
            var (value, header) = await ((RcCache)Cache).Keyspace.ReadAsync(Namespace + key, count: false, CancellationToken.None);
            return (request, value, header);
        }

        /// <summary>Lets time pass: the fake clock, and the TTLs of this test's keys in Redis.</summary>
        public async Task PassAsync(TimeSpan time)
        {
            Clock.Advance(time);
            if (RedisEndPoints.Length > 0)
            {
                await RedisTime.PassAsync(RedisEndPoints, Namespace, time);
            }
        }

        /// <summary>The bytes and PTTL of a key as the server that holds it has them.</summary>
        public async Task<(byte[] Value, long PttlMs)> RawAsync(string key)
        {
            foreach (var server in Servers)
            {
                await using var connection = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(server.EndPoint);
                var database = connection.GetDatabase();
                if (await database.StringGetAsync(Namespace + key) is { HasValue: true } value)
                {
                    return (value!, (long)(await database.KeyTimeToLiveAsync(Namespace + key))!.Value.TotalMilliseconds);
                }
            }

            throw new InvalidOperationException($"No server holds {key}.");
        }

        public async ValueTask DisposeAsync()
        {
            Metrics.Dispose();
            await _services.DisposeAsync();
        }
    }
}
