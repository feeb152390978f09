namespace RcAspNet.Caching;

/// <summary>What an entry's header says (<see cref="EntryEnvelope"/>); all empty for an entry without one.</summary>
/// <param name="Sliding">The sliding window; zero for none.</param>
/// <param name="Absolute">The absolute deadline of a sliding entry, if it has one.</param>
/// <param name="ValueOffset">Where the value begins in the entry.</param>
/// <param name="TagsOffset">Where the tags begin in the entry; 0 when it carries none.</param>
/// <param name="WrittenAt">When the value was written, for an entry whose freshness is tracked (Unix milliseconds; 0 for none).</param>
/// <param name="FreshUntil">Until when the value is fresh, for an entry whose freshness is tracked (Unix milliseconds; 0 for none): past it, only a fail-safe fallback.</param>
internal readonly record struct EntryHeader(TimeSpan Sliding, DateTimeOffset? Absolute, int ValueOffset, int TagsOffset, long WrittenAt, long FreshUntil)
{
    public bool HasTags => TagsOffset > 0;

    public bool TracksFreshness => FreshUntil > 0;

    /// <summary>Whether the value is no longer fresh at <paramref name="now"/> (Unix milliseconds).</summary>
    public bool IsStaleAt(long now) => TracksFreshness && now >= FreshUntil;

    /// <summary>How much of its fresh lifetime has passed at <paramref name="now"/>, from 0 to 1 and beyond.</summary>
    public double AgeFraction(long now) => TracksFreshness && FreshUntil > WrittenAt ? (double)(now - WrittenAt) / (FreshUntil - WrittenAt) : 0;
}
