using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using RcAspNet.Stores.Near;
using RcAspNet.Stores.Redis;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.NearCache;

/// <summary>
/// What the near cache keeps when reads of one key overlap, driven step by step over a real invalidation link: two
/// reads under way at once may be answered in either order, so when they disagree neither is kept, and a node never
/// serves a value older than one it already returned.
/// </summary>
public sealed class NearCopiesTests : IAsyncLifetime
{
    private readonly NearCopies _copies = new(1024 * 1024, TimeProvider.System);
    private ServerLink? _link;

    public async Task InitializeAsync()
    {
        var server = await SharedRedis.Single;
        _link = new ServerLink(new IPEndPoint(IPAddress.Loopback, server.Port), new RespSettings(null, null, 0, false, null, default), [SharedRedis.UniqueNamespace()], TimeSpan.FromSeconds(2), _copies, static _ => { }, static () => { }, static _ => { }, static () => false, NullLogger.Instance);
        var deadline = Stopwatch.StartNew();
        while (!_link.IsUp)
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(30), "The invalidation link never came up.");
            await Task.Delay(10);
        }
    }

    public Task DisposeAsync()
    {
        _link!.Dispose();
        return Task.CompletedTask;
    }

    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);

    [Fact]
    public void OneRead_IsKept()
    {
        var read = _copies.BeginRead("k", _link!)!;
        _copies.Complete(read, "v1"u8.ToArray(), Minute);

        Assert.True(_copies.TryGet("k", _link!, out var value));
        Assert.Equal("v1"u8.ToArray(), value);
    }

    [Fact]
    public void AReadTooLargeToKeep_DropsTheOlderCopyItContradicts()
    {
        var copies = new NearCopies(1024, TimeProvider.System);
        var first = copies.BeginRead("k", _link!)!;
        copies.Complete(first, "v1"u8.ToArray(), Minute);
        Assert.True(copies.TryGet("k", _link!, out _));

        // The key changed to a value past the limit: not kept, and the node has returned it, so v1 must not be served.
        var second = copies.BeginRead("k", _link!)!;
        copies.Complete(second, new byte[4096], Minute);
        Assert.False(copies.TryGet("k", _link!, out _));
    }

    [Fact]
    public void ACopy_ExpiresWithItsKey_CountedFromWhenItsReadWasSent()
    {
        // The server read the key's TTL somewhere between the send and the reply: the copy must not outlive the key by
        // the time the reply took.
        var clock = new ManualTimeProvider(DateTimeOffset.UtcNow);
        var copies = new NearCopies(1024 * 1024, clock);
        var read = copies.BeginRead("k", _link!)!;
        clock.Advance(TimeSpan.FromMilliseconds(400));
        copies.Complete(read, "v1"u8.ToArray(), TimeSpan.FromSeconds(1));

        clock.Advance(TimeSpan.FromMilliseconds(500));
        Assert.True(copies.TryGet("k", _link!, out _));
        clock.Advance(TimeSpan.FromMilliseconds(200));
        Assert.False(copies.TryGet("k", _link!, out _), "The copy outlived its key's TTL counted from the read's send.");
    }

    [Fact]
    public void ACopy_ExpiresWithItsKey_WhenTheWallClockStepsBack()
    {
        // The machine's clock is set back an hour while the copy lives: its key still expires in Redis a second after the
        // read, and so must the copy.
        var clock = new SteppedClock();
        var copies = new NearCopies(1024 * 1024, clock);
        var read = copies.BeginRead("k", _link!)!;
        copies.Complete(read, "v1"u8.ToArray(), TimeSpan.FromSeconds(1));

        clock.Elapse(TimeSpan.FromMilliseconds(500));
        clock.Wall -= TimeSpan.FromHours(1);
        Assert.True(copies.TryGet("k", _link!, out _));
        clock.Elapse(TimeSpan.FromMilliseconds(600));
        Assert.False(copies.TryGet("k", _link!, out _), "The copy outlived its key's TTL after the wall clock stepped back.");
    }

    [Fact]
    public void OverlappingReadsThatDisagree_KeepNeither_WhicheverEndsLast()
    {
        // The later-begun read was answered first, with the old value; the earlier one, sent after a write, with the new.
        var first = _copies.BeginRead("k", _link!)!;
        var second = _copies.BeginRead("k", _link!)!;
        _copies.Complete(second, "old"u8.ToArray(), Minute);
        _copies.Complete(first, "new"u8.ToArray(), Minute);

        Assert.False(_copies.TryGet("k", _link!, out _));

        // The other order, on another key.
        first = _copies.BeginRead("j", _link!)!;
        second = _copies.BeginRead("j", _link!)!;
        _copies.Complete(first, "new"u8.ToArray(), Minute);
        _copies.Complete(second, "old"u8.ToArray(), Minute);

        Assert.False(_copies.TryGet("j", _link!, out _));
    }

    [Fact]
    public void OverlappingReadsThatAgree_AreKept()
    {
        var first = _copies.BeginRead("k", _link!)!;
        var second = _copies.BeginRead("k", _link!)!;
        _copies.Complete(second, "same"u8.ToArray(), Minute);
        _copies.Complete(first, "same"u8.ToArray(), Minute);

        Assert.True(_copies.TryGet("k", _link!, out var value));
        Assert.Equal("same"u8.ToArray(), value);
    }

    [Fact]
    public void AfterADisagreement_ANewReadIsKeptAgain()
    {
        var first = _copies.BeginRead("k", _link!)!;
        var second = _copies.BeginRead("k", _link!)!;
        _copies.Complete(second, "old"u8.ToArray(), Minute);
        var third = _copies.BeginRead("k", _link!)!; // begun while the group is still under way: it belongs to it
        _copies.Complete(first, "new"u8.ToArray(), Minute);
        _copies.Complete(third, "new"u8.ToArray(), Minute);
        Assert.False(_copies.TryGet("k", _link!, out _));

        var fourth = _copies.BeginRead("k", _link!)!;
        _copies.Complete(fourth, "new"u8.ToArray(), Minute);
        Assert.True(_copies.TryGet("k", _link!, out var value));
        Assert.Equal("new"u8.ToArray(), value);
    }

    [Fact]
    public void InvalidationWhileReadsAreUnderWay_KeepsNoneOfThem_ButNotLaterReads()
    {
        var before = _copies.BeginRead("k", _link!)!;
        _copies.Invalidate("k");
        var after = _copies.BeginRead("k", _link!)!;
        _copies.Complete(before, "old"u8.ToArray(), Minute);
        Assert.False(_copies.TryGet("k", _link!, out _));

        _copies.Complete(after, "new"u8.ToArray(), Minute);
        Assert.True(_copies.TryGet("k", _link!, out var value));
        Assert.Equal("new"u8.ToArray(), value);
    }

    [Fact]
    public void AMultiKeyReadThatSawANewerValue_DropsTheCopy()
    {
        var read = _copies.BeginRead("k", _link!)!;
        _copies.Complete(read, "old"u8.ToArray(), Minute);
        _copies.Observe("k", "new"u8.ToArray());

        Assert.False(_copies.TryGet("k", _link!, out _));
    }

    [Fact]
    public void AMultiKeyReadThatSawANewerValue_KeepsAReadUnderWayOut()
    {
        var read = _copies.BeginRead("k", _link!)!;
        _copies.Observe("k", "new"u8.ToArray());
        _copies.Complete(read, "old"u8.ToArray(), Minute);

        Assert.False(_copies.TryGet("k", _link!, out _));
    }

    [Fact]
    public void AKeyWithoutTimeToLive_IsKept()
    {
        // PTTL -1: the key lives until it changes, and Redis reports the change.
        var read = _copies.BeginRead("k", _link!)!;
        _copies.Complete(read, "forever"u8.ToArray(), TimeSpan.MaxValue);

        Assert.True(_copies.TryGet("k", _link!, out var value));
        Assert.Equal("forever"u8.ToArray(), value);
    }

    [Fact]
    public void AReadThatFailed_SaysNothing()
    {
        var failed = _copies.BeginRead("k", _link!)!;
        var other = _copies.BeginRead("k", _link!)!;
        _copies.Abandon(failed);
        _copies.Complete(other, "v"u8.ToArray(), Minute);

        Assert.True(_copies.TryGet("k", _link!, out _));
    }

    [Fact]
    public async Task ReadsOfManyKeysOnSeveralThreads_NeverKeepAReadThatAnInvalidationOverlapped()
    {
        // Reads of distinct keys begin and end on four threads at once, as a busy node's misses do; each is invalidated
        // while under way. Every read's record must be found by its invalidation whatever the other threads do, or the
        // read would keep the value the invalidation said was replaced.
        const int Threads = 4;
        const int Reads = 20_000;
        var kept = 0;
        var begun = 0;
        var start = new Barrier(Threads);
        await Task.WhenAll(Enumerable.Range(0, Threads).Select(t => Task.Factory.StartNew(
            () =>
            {
                start.SignalAndWait();
                for (var i = 0; i < Reads; i++)
                {
                    var key = $"t{t}:{i}";
                    if (_copies.BeginRead(key, _link!) is not { } read)
                    {
                        // The link blinked (a loaded machine's heartbeat): nothing is kept meanwhile.
                        continue;
                    }

                    Interlocked.Increment(ref begun);
                    _copies.Invalidate(key);
                    _copies.Complete(read, "old"u8.ToArray(), Minute);
                    if (_copies.TryGet(key, _link!, out _))
                    {
                        Interlocked.Increment(ref kept);
                    }
                }
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default)));

        Assert.True(begun > 0);
        Assert.Equal(0, kept);
    }

    /// <summary>A clock whose wall time can be set back while its monotonic time goes on, as a machine's clock can be.</summary>
    private sealed class SteppedClock : TimeProvider
    {
        private long _elapsed;

        public DateTimeOffset Wall { get; set; } = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override DateTimeOffset GetUtcNow() => Wall;

        public override long GetTimestamp() => _elapsed;

        public void Elapse(TimeSpan by)
        {
            _elapsed += by.Ticks;
            Wall += by;
        }
    }
}
