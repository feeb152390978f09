namespace RcAspNet.Stores;

/// <summary>
/// What a load holds while its factory runs, so that no other process's removal of the key is undone by the load's
/// write: taken before the factory (<see cref="IRcStore.LeaseAsync"/>) under a key beside the entry's
/// (<see cref="KeyOf"/>), revoked by every removal of the entry, and checked by the write in the same atomic step.
/// </summary>
/// <param name="Token">The lease's token; <see cref="Unavailable"/> when it could not be taken, and the load is then not written.</param>
/// <param name="Replaces">
/// What the load's read found, which the write must still find: <see cref="Nothing"/> (a miss: the write goes only where
/// the key holds nothing, so a value another process wrote meanwhile stays); the write time of a tracked entry (a
/// refresh, Unix milliseconds), which must still be there or gone; or <see cref="Anything"/> (an entry that carries no
/// write time, which the write replaces whatever the key holds by then).
/// </param>
internal readonly record struct FillLease(string Token, long Replaces)
{
    /// <summary>The load's read found nothing.</summary>
    public const long Nothing = 0;

    /// <summary>The load's read found an entry without a write time, or its read is unknown: only the lease is checked.</summary>
    public const long Anything = -1;

    /// <summary>The token of a lease that could not be taken (the server failed, degraded): the load is answered, not stored.</summary>
    public const string Unavailable = "";

    /// <summary>How long a lease lives: a factory that runs longer has its value answered, not stored.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(10);

    /// <summary>What every lease's key begins with.</summary>
    public const string Prefix = "rc-fill:";

    /// <summary>Gets whether the write may be tried: the lease was taken.</summary>
    public bool IsHeld => Token.Length > 0;

    /// <summary>The lease's key for <paramref name="key"/>, in its hash slot; null when it cannot share it (the key is then filled without a lease, as a memory store is).</summary>
    public static string? KeyOf(string key) => CompanionKey.InSlotOf(Prefix, key);
}
