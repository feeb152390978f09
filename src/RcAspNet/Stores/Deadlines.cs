namespace RcAspNet.Stores;

/// <summary>
/// Cancellation tokens that bound operations without a timer each: every operation that starts within the same
/// eighth of the timeout shares one token, which fires one timeout and one eighth after the first of them started.
/// An operation's deadline therefore falls between 1 and 1.125 timeouts after it starts.
/// </summary>
internal sealed class Deadlines(TimeSpan timeout, TimeProvider time)
{
    private readonly TimeSpan _slot = timeout / 8;
    private readonly long _slotTimestamps = Math.Max(1, (long)(timeout.TotalSeconds / 8 * time.TimestampFrequency));
    private Slot? _current;

    public CancellationToken Next()
    {
        var now = time.GetTimestamp();
        var current = Volatile.Read(ref _current);
        if (current is not null && now < current.End)
        {
            return current.Source.Token;
        }

        var next = new Slot(now + _slotTimestamps, new CancellationTokenSource(timeout + _slot, time));
        var seen = Interlocked.CompareExchange(ref _current, next, current);
        if (!ReferenceEquals(seen, current))
        {
            // Another caller opened the slot first.
            next.Source.Dispose();
            return seen!.Source.Token;
        }

        return next.Source.Token;
    }

    private sealed record Slot(long End, CancellationTokenSource Source);
}
