using Microsoft.Extensions.Caching.Distributed;

namespace RcAspNet.Caching;

/// <summary>
/// When an entry expires: how long it is fresh from now (<see cref="TimeToLive"/>), its sliding window and its absolute
/// deadline; and, for an entry whose freshness is tracked (<see cref="Tracked"/>), how long the store keeps it past its
/// freshness as a fail-safe fallback (<see cref="Grace"/>).
/// </summary>
internal readonly record struct EntryTiming(TimeSpan TimeToLive, TimeSpan Sliding, DateTimeOffset? Absolute)
{
    public bool IsSliding => Sliding > TimeSpan.Zero;

    /// <summary>Gets how long the store keeps the entry past its freshness, as a fail-safe fallback.</summary>
    public TimeSpan Grace { get; init; }

    /// <summary>Gets whether the entry records when it was written and until when it is fresh (fail-safe, eager refresh).</summary>
    public bool Tracked { get; init; }

    /// <summary>Gets how long the store keeps the entry: its freshness and its grace.</summary>
    public TimeSpan StoreTimeToLive => Grace >= TimeSpan.MaxValue - TimeToLive ? TimeSpan.MaxValue : TimeToLive + Grace;

    /// <summary>A fixed lifetime from now.</summary>
    public static EntryTiming For(TimeSpan timeToLive) => new(timeToLive, TimeSpan.Zero, null);

    /// <summary>
    /// The Microsoft semantics: absolute or relative deadline, sliding window capped by the deadline, and
    /// <paramref name="defaultExpiration"/> when neither is given.
    /// </summary>
    public static EntryTiming From(DistributedCacheEntryOptions options, DateTimeOffset now, TimeSpan defaultExpiration)
    {
        // A deadline in the past is refused even beside a relative one, as RedisCache refuses it.
        if (options.AbsoluteExpiration is { } deadline && deadline <= now)
        {
            throw new ArgumentOutOfRangeException(
                nameof(DistributedCacheEntryOptions.AbsoluteExpiration),
                deadline,
                "The absolute expiration value must be in the future.");
        }

        DateTimeOffset? absolute = options.AbsoluteExpirationRelativeToNow is { } relative ? now + relative : options.AbsoluteExpiration;

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
