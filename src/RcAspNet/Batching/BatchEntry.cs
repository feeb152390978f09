using RcAspNet.Caching;

namespace RcAspNet.Batching;

/// <summary>One queued lookup: its key, how to load it on a miss, and the promise to resolve.</summary>
internal abstract class BatchEntry(string key, string namespacedKey, RcEntryOptions? options)
{
    public string Key { get; } = key;

    public string NamespacedKey { get; } = namespacedKey;

    public RcEntryOptions? Options { get; } = options;

    /// <summary>Gets or sets the key's change mark when a flush began to load it (<see cref="CacheNamespace.ChangeMark"/>).</summary>
    public long ChangeMark { get; set; }

    /// <summary>Gets or sets the entry, as stored, that the flush's read found for the key (null for nothing), which the load's write must still find (<see cref="CacheNamespace.Expectation"/>).</summary>
    public byte[]? ReadEntry { get; set; }

    /// <summary>Gets or sets whether the flush's read failed, so that what it found is unknown: the load is then answered, not written to a store with leases.</summary>
    public bool ReadUnknown { get; set; }

    /// <summary>Gets or sets the token of the key's fill lease, taken before its loader runs; null when the store needs none (<see cref="CacheNamespace.LeaseManyAsync"/>).</summary>
    public string? Lease { get; set; }

    /// <summary>Gets what misses are loaded together by: the entry itself for a single loader, the delegate for a load-many loader.</summary>
    public abstract object LoaderIdentity { get; }

    /// <summary>Resolves from stored bytes; false when they cannot be read as this entry's type.</summary>
    public abstract bool TryResolve(RcCache cache, ReadOnlySpan<byte> bytes);

    public abstract void Fail(Exception error);

    /// <summary>Marks the entry as taken by a flush, for callers that await it meanwhile.</summary>
    public abstract void TakenBy(FlushWork flush);

    /// <summary>What the misses of one loader share when they go through the cache's loader (a load-many loader's one call), or null.</summary>
    public virtual object? Share(int members) => null;

    /// <summary>
    /// Resolves this entry through the cache's <see cref="Loader"/> (fail-safe, timeouts, eager refresh, fleet), from what
    /// the flush's read found (<paramref name="loadsEndedAtRead"/>: <see cref="Loader.LoadsEnded"/> before it began);
    /// <paramref name="loads"/> bounds how many single loaders run at once.
    /// </summary>
    public abstract Task LoadThroughAsync(RcCache cache, ReadOnlyMemory<byte>? value, EntryHeader header, long loadsEndedAtRead, object? shared, SemaphoreSlim loads, CancellationToken cancellationToken);

    /// <summary>Loads <paramref name="entries"/> (misses that share this entry's loader), resolves them, and returns what to write back.</summary>
    public abstract Task<IReadOnlyList<(BatchEntry Entry, byte[] Bytes)>> LoadAsync(RcCache cache, IReadOnlyList<BatchEntry> entries, CancellationToken cancellationToken);
}
