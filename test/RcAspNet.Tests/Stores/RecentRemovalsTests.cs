using RcAspNet.Stores;
using RcAspNet.Stores.Redis;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Stores;

/// <summary>
/// The log of recent removals on its own, on a fake clock: a replay gets every removal of its window, or null (clear
/// the server instead) when the log no longer holds all of them, whatever dropped them.
/// </summary>
public sealed class RecentRemovalsTests
{
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(30);
    private readonly ManualTimeProvider _time = new();

    [Fact]
    public void AReplayWithinTheWindow_GetsEveryRemovalOfTheServer()
    {
        var log = new RecentRemovals(Window, limit: 100, _time, static () => long.MaxValue);
        log.Add("a");
        log.Add(Removal.OfKeys(["b", "c"]));
        var replay = log.For(static k => k != "c", since: _time.GetTimestamp());
        Assert.Equal(["a", "b"], replay!.SelectMany(static r => r.Keys));
    }

    [Fact]
    public void AReplayThatReachesBackPastWhatLeftTheWindow_IsIncomplete()
    {
        // Nothing held the log (the server was not suspected in time, as a cluster primary whose slots moved first).
        var log = new RecentRemovals(Window, limit: 100, _time, static () => long.MaxValue);
        var lost = _time.GetTimestamp();
        log.Add("a");
        _time.Advance(Window + TimeSpan.FromSeconds(1));
        log.Add("b"); // trims "a", which left the window
        Assert.Null(log.For(static _ => true, since: lost));
        Assert.Equal(["b"], log.For(static _ => true, since: _time.GetTimestamp())!.SelectMany(static r => r.Keys));
    }

    [Fact]
    public void AReplayPastWhatTheBoundDropped_IsIncomplete()
    {
        var log = new RecentRemovals(Window, limit: 2, _time, static () => long.MaxValue);
        log.Add("a");
        log.Add("b");
        log.Add("c"); // over the bound: "a" goes
        Assert.Null(log.For(static _ => true, since: _time.GetTimestamp()));
    }

    [Fact]
    public void ARemovalOfMoreKeysThanTheBound_LeavesNothingToReplay_AndTheReplayIsIncomplete()
    {
        var log = new RecentRemovals(Window, limit: 2, _time, static () => long.MaxValue);
        log.Add(Removal.OfKeys(["a", "b", "c"])); // over the bound on its own: dropped as it is added
        Assert.False(log.IsEmpty);
        Assert.Null(log.For(static _ => true, since: _time.GetTimestamp()));
        log.Add("d");
        Assert.Null(log.For(static _ => true, since: _time.GetTimestamp()));
    }

    [Fact]
    public void WhileAServerIsSuspected_NothingNewerThanTheWindowBeforeItLeaves()
    {
        var suspected = _time.GetTimestamp();
        var log = new RecentRemovals(Window, limit: 100, _time, () => suspected);
        log.Add("a");
        _time.Advance(TimeSpan.FromMinutes(10));
        log.Add("b");
        Assert.Equal(["a", "b"], log.For(static _ => true, since: suspected)!.SelectMany(static r => r.Keys));
    }
}
