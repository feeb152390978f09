using Microsoft.Extensions.Caching.Distributed;

namespace RcAspNet.Caching;

/// <summary>When an entry expires: its time to live in the store now, its sliding window and its absolute deadline.</summary>
internal readonly record struct EntryTiming(TimeSpan TimeToLive, TimeSpan Sliding, DateTimeOffset? Absolute)
{
    public bool IsSliding => Sliding > TimeSpan.Zero;

    /// <summary>A fixed lifetime from now.</summary>
    public static EntryTiming For(TimeSpan timeToLive) => new(timeToLive, TimeSpan.Zero, null);

    /// <summary>
    /// The Microsoft semantics: absolute or relative deadline, sliding window capped by the deadline, and
    /// <paramref name="defaultExpiration"/> when neither is given.
    /// </summary>
    public static EntryTiming From(DistributedCacheEntryOptions options, DateTimeOffset now, TimeSpan defaultExpiration)
    {
        DateTimeOffset? absolute = null;
        if (options.AbsoluteExpirationRelativeToNow is { } relative)
        {
            absolute = now + relative;
        }
        else if (options.AbsoluteExpiration is { } deadline)
        {
            if (deadline <= now)
            {
                throw new ArgumentOutOfRangeException(
                    nameof(DistributedCacheEntryOptions.AbsoluteExpiration),
                    deadline,
                    "The absolute expiration value must be in the future.");
            }

            absolute = deadline;
        }

        if (options.SlidingExpiration is { } sliding && sliding > TimeSpan.Zero)
        {
            var ttl = absolute is { } abs && abs - now < sliding ? abs - now : sliding;
            return new EntryTiming(ttl, sliding, absolute);
        }

        return new EntryTiming(absolute is { } a ? a - now : defaultExpiration, TimeSpan.Zero, absolute);
    }

    /// <summary>The time to live a read of a sliding entry renews it to, or zero when its deadline has passed.</summary>
    public static TimeSpan Renewal(TimeSpan sliding, DateTimeOffset? absolute, DateTimeOffset now)
    {
        if (absolute is not { } deadline)
        {
            return sliding;
        }

        var left = deadline - now;
        return left <= TimeSpan.Zero ? TimeSpan.Zero : left < sliding ? left : sliding;
    }
}
