namespace RcAspNet.Stores;

/// <summary>An entry of an in-process, size-bounded map (the embedded store, the near cache), as <see cref="Eviction"/> weighs it.</summary>
internal interface ICachedCopy
{
    /// <summary>Gets the bytes the entry takes: its key, its value and a fixed overhead.</summary>
    long Size { get; }

    /// <summary>Gets when it was last read, or written if it was never read (ticks of the store's clock).</summary>
    long LastUse { get; }

    /// <summary>Gets whether it was read at least once since it was written.</summary>
    bool WasRead { get; }
}
