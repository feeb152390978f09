using System.Collections.Concurrent;

namespace RcAspNet.Caching;

/// <summary>
/// Keeps reads of a sliding entry from renewing it more than once per hundredth of its window in this process: a
/// hot entry then costs one command per read, as a plain one does, instead of two. To make up for the renewals it
/// skips, a renewal extends the entry by its window plus that hundredth, so an entry read within its window never
/// expires early; it may outlive the window by up to 1%. Bounded: past its capacity, the table starts afresh.
/// </summary>
internal sealed class RenewalThrottle(TimeProvider time)
{
    private const int Capacity = 16_384;
    private readonly ConcurrentDictionary<string, long> _renewed = new(StringComparer.Ordinal);

    /// <summary>Returns the time to live to renew <paramref name="key"/> to, or zero when it was renewed a moment ago.</summary>
    public TimeSpan Renewal(string key, TimeSpan window, TimeSpan untilDeadline)
    {
        var quiet = window / 100;
        var now = time.GetTimestamp();
        if (_renewed.TryGetValue(key, out var last) && time.GetElapsedTime(last, now) < quiet)
        {
            return TimeSpan.Zero;
        }

        if (_renewed.Count >= Capacity)
        {
            _renewed.Clear();
        }

        _renewed[key] = now;
        var ttl = quiet >= TimeSpan.MaxValue - window ? TimeSpan.MaxValue : window + quiet;
        return ttl < untilDeadline ? ttl : untilDeadline;
    }
}
