using System.Diagnostics;

namespace RcAspNet.Stores.Redis;

/// <summary>
/// Cancellation tokens that bound asynchronous operations without a timer each and without the thread pool: every
/// operation that starts within the same slot (a sixteenth of the timeout, at most 4 ms) shares one token, which
/// <see cref="DeadlineThread"/> cancels one timeout and one slot after the slot opened. An operation's deadline falls
/// between one timeout and one timeout plus a slot after it starts.
/// </summary>
internal sealed class Deadlines
{
    private readonly long _timeout;
    private readonly long _slot;
    private Slot? _current;

    public Deadlines(TimeSpan timeout)
    {
        _timeout = (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        _slot = Math.Clamp(_timeout / 16, Stopwatch.Frequency / 1000, Stopwatch.Frequency / 250);
    }

    public CancellationToken Next()
    {
        var now = Stopwatch.GetTimestamp();
        var current = Volatile.Read(ref _current);
        if (current is not null && now < current.OpenUntil)
        {
            return current.Source.Token;
        }

        var next = new Slot(now + _slot, now + _slot + _timeout, new CancellationTokenSource());
        var seen = Interlocked.CompareExchange(ref _current, next, current);
        if (!ReferenceEquals(seen, current))
        {
            // Another caller opened the slot first.
            return seen!.Source.Token;
        }

        DeadlineThread.Schedule(next.Due, next.Source);
        return next.Source.Token;
    }

    private sealed record Slot(long OpenUntil, long Due, CancellationTokenSource Source);
}
