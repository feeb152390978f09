namespace RcAspNet;

/// <summary>
/// A named cache (<c>Rc:Caches:{name}</c>). Unset settings are those of the default cache; a cache that sets
/// <see cref="Store"/> gets a store of its own, otherwise it shares the default cache's store under its own namespace.
/// </summary>
public sealed class RcNamedCacheOptions
{
    /// <summary>Gets or sets the namespace of this cache.</summary>
    /// <value>The default is the default cache's namespace followed by the cache name and a colon.</value>
    public string? Namespace { get; set; }

    /// <summary>Gets or sets the lifetime of an entry written without an expiration.</summary>
    /// <value>The default is <see cref="RcOptions.DefaultExpiration"/>.</value>
    public TimeSpan? DefaultExpiration { get; set; }

    /// <summary>
    /// Gets or sets the results returned but never stored, as JSON text. In configuration, <c>[]</c> (or <c>null</c>,
    /// which IConfiguration cannot tell from it) is none; left out, the default cache's.
    /// </summary>
    /// <value>The default is <see cref="RcOptions.BypassValues"/>.</value>
    public List<string>? BypassValues { get; set; }

    /// <summary>
    /// Gets or sets the fail-safe settings of this cache (set whole: an unset one is the default cache's). In
    /// configuration, <c>{}</c> (or <c>null</c>, which IConfiguration cannot tell from it) is every default: off.
    /// </summary>
    /// <value>The default is <see cref="RcOptions.FailSafe"/>.</value>
    public RcFailSafeOptions? FailSafe { get; set; }

    /// <summary>Gets or sets how long a caller waits for a factory when a fallback exists.</summary>
    /// <value>The default is <see cref="RcOptions.FactorySoftTimeout"/>.</value>
    public TimeSpan? FactorySoftTimeout { get; set; }

    /// <summary>Gets or sets how long a caller waits for a factory at most.</summary>
    /// <value>The default is <see cref="RcOptions.FactoryHardTimeout"/>.</value>
    public TimeSpan? FactoryHardTimeout { get; set; }

    /// <summary>Gets or sets the fraction of an entry's lifetime after which a hit refreshes it in the background.</summary>
    /// <value>The default is <see cref="RcOptions.EagerRefreshThreshold"/>.</value>
    public double? EagerRefreshThreshold { get; set; }

    /// <summary>Gets or sets who runs a factory when many callers miss one key at once.</summary>
    /// <value>The default is <see cref="RcOptions.StampedeProtection"/>.</value>
    public RcStampedeProtection? StampedeProtection { get; set; }

    /// <summary>Gets or sets the store of this cache, if it is not the default cache's store.</summary>
    /// <value>The default is the default cache's store.</value>
    public RcStoreKind? Store { get; set; }

    /// <summary>Gets or sets the StackExchange.Redis configuration string, for <see cref="RcStoreKind.Redis"/>.</summary>
    /// <value>The default is none.</value>
    public string? Redis { get; set; }

    /// <summary>Gets or sets the router, for <see cref="RcStoreKind.Sharded"/>.</summary>
    /// <value>The default is <see cref="RcRouterKind.Crc32"/>.</value>
    public RcRouterKind? Router { get; set; }

    /// <summary>Gets the shards, for <see cref="RcStoreKind.Sharded"/>.</summary>
    /// <value>The default is none.</value>
    public Dictionary<string, RcShardOptions> Shards { get; } = new(StringComparer.Ordinal);
}
