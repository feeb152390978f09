namespace RcAspNet;

/// <summary>How one typed-cache write behaves.</summary>
public sealed class RcEntryOptions
{
    /// <summary>Gets how long the entry lives.</summary>
    /// <value>The default is the cache's default expiration (<see cref="RcOptions.DefaultExpiration"/>).</value>
    public TimeSpan? Expiration { get; init; }

    /// <summary>
    /// Gets results that are returned but not stored (rc's <c>bypass_values</c>), compared by their serialized form;
    /// for example <c>[null]</c>. When set, these replace the configured <see cref="RcOptions.BypassValues"/>.
    /// </summary>
    /// <value>The default is the configured bypass values.</value>
    public IReadOnlyList<object?>? BypassValues { get; init; }

    /// <summary>
    /// Gets the tags of the entry: <see cref="IRcCache.InvalidateTagAsync"/> removes every entry that carries one, on
    /// every server. A tag belongs to the cache's namespace. Reads of a tagged entry cost what any read costs; a tagged
    /// write costs two more round trips (the tags' versions before, their bookkeeping after).
    /// </summary>
    /// <value>The default is none.</value>
    public IReadOnlyList<string>? Tags { get; init; }

    /// <summary>Gets how long past its expiry the entry stays readable as a fail-safe fallback; <see cref="TimeSpan.Zero"/> turns fail-safe off for it.</summary>
    /// <value>The default is the cache's <see cref="RcFailSafeOptions.MaxDuration"/>.</value>
    public TimeSpan? FailSafeMaxDuration { get; init; }

    /// <summary>Gets how long a fallback, once served, is served before the factory is tried again.</summary>
    /// <value>The default is the cache's <see cref="RcFailSafeOptions.ThrottleDuration"/>.</value>
    public TimeSpan? FailSafeThrottleDuration { get; init; }

    /// <summary>Gets how long a caller waits for the factory when a fallback exists; <see cref="TimeSpan.Zero"/> for no soft timeout.</summary>
    /// <value>The default is the cache's <see cref="RcOptions.FactorySoftTimeout"/>.</value>
    public TimeSpan? FactorySoftTimeout { get; init; }

    /// <summary>Gets how long a caller waits for the factory at most; <see cref="TimeSpan.Zero"/> for no hard timeout.</summary>
    /// <value>The default is the cache's <see cref="RcOptions.FactoryHardTimeout"/>.</value>
    public TimeSpan? FactoryHardTimeout { get; init; }

    /// <summary>Gets the fraction of the entry's lifetime after which a hit refreshes it in the background; 0 turns eager refresh off for it.</summary>
    /// <value>The default is the cache's <see cref="RcOptions.EagerRefreshThreshold"/>.</value>
    public double? EagerRefreshThreshold { get; init; }

    /// <summary>Gets who runs the factory when many callers miss the key at once.</summary>
    /// <value>The default is the cache's <see cref="RcOptions.StampedeProtection"/>.</value>
    public RcStampedeProtection? StampedeProtection { get; init; }
}
