namespace RcAspNet;

/// <summary>
/// Settings of RcAspNet, bound from the <c>Rc</c> section of configuration and described by <c>appsettings.schema.json</c>.
/// </summary>
public sealed class RcOptions
{
    /// <summary>The configuration section that <c>AddRcCache(IConfiguration)</c> expects: <c>Rc</c>.</summary>
    public const string SectionName = "Rc";

    /// <summary>Gets or sets where entries are kept.</summary>
    /// <value>The default is <see cref="RcStoreKind.Memory"/>.</value>
    public RcStoreKind Store { get; set; } = RcStoreKind.Memory;

    /// <summary>Gets or sets the prefix of every key, concatenated with no separator (rc's <c>namespace</c>).</summary>
    /// <value>The default is the empty string.</value>
    public string Namespace { get; set; } = "";

    /// <summary>Gets or sets the lifetime of an entry written without an expiration (rc's <c>default_expire</c>).</summary>
    /// <value>The default is 3 days.</value>
    public TimeSpan DefaultExpiration { get; set; } = TimeSpan.FromDays(3);

    /// <summary>Gets or sets the StackExchange.Redis configuration string, for <see cref="RcStoreKind.Redis"/>. A Redis Cluster works too.</summary>
    /// <value>The default is none.</value>
    public string? Redis { get; set; }

    /// <summary>
    /// Gets or sets the name of a connection string (<c>ConnectionStrings:{name}</c>, as hosting platforms and Aspire's
    /// <c>AddRedis("name")</c> provide it) that holds the StackExchange.Redis configuration string, for
    /// <see cref="RcStoreKind.Redis"/>: instead of <see cref="Redis"/>.
    /// </summary>
    /// <value>The default is none.</value>
    public string? RedisConnectionName { get; set; }

    /// <summary>
    /// Gets or sets the path of a certificate authority's certificate (PEM or DER) that Redis servers' TLS certificates
    /// may be issued by, besides the authorities the machine trusts: a private authority, such as one a managed Redis
    /// or a company gives its servers certificates from. Every TLS connection of every store is validated against it
    /// (the certificate's chain and its host name), those of StackExchange.Redis as well as the library's own.
    /// </summary>
    /// <value>The default is none: only the authorities the machine trusts.</value>
    public string? SslCaFile { get; set; }

    /// <summary>Gets or sets how a sharded store routes keys.</summary>
    /// <value>The default is <see cref="RcRouterKind.Crc32"/>.</value>
    public RcRouterKind Router { get; set; } = RcRouterKind.Crc32;

    /// <summary>Gets the Redis servers of a sharded store, by shard name (rc's host names).</summary>
    /// <value>The default is none.</value>
    public Dictionary<string, RcShardOptions> Shards { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Gets the results that are returned but never stored (rc's <c>bypass_values</c>), each written as JSON text:
    /// <c>null</c>, <c>[]</c>, <c>""</c>, <c>0</c>.
    /// </summary>
    /// <value>The default is none.</value>
    public List<string> BypassValues { get; } = [];

    /// <summary>Gets or sets what a store failure does to the caller.</summary>
    /// <value>The default is <see cref="RcFailureMode.Degrade"/>.</value>
    public RcFailureMode FailureMode { get; set; } = RcFailureMode.Degrade;

    /// <summary>Gets or sets how long one Redis operation may take before it counts as failed. Shorter than 49 days.</summary>
    /// <value>The default is 500 milliseconds.</value>
    public TimeSpan OperationTimeout { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// Gets or sets how many failures in a row to reach a server (a refused connection, a connect that fails or takes
    /// longer than <see cref="OperationTimeout"/>) open its circuit, so that calls skip it instead of waiting; an answer
    /// starts the count again. Other failures open the circuit at once, whatever this setting: a call that gets no answer
    /// within <see cref="OperationTimeout"/>, a lost connection (the server then proves it is the one it was, by its
    /// <c>run_id</c>, before it serves again), credentials or a certificate refused, and a removal (or a write replacing a
    /// value) that did not reach the server.
    /// </summary>
    /// <value>The default is 5.</value>
    public int CircuitBreakerThreshold { get; set; } = 5;

    /// <summary>
    /// Gets or sets the longest wait between two recoveries of an open circuit. A recovery PINGs the server, verifies it,
    /// and delivers the removals kept for it; the circuit closes when one succeeds. The first comes 250 milliseconds
    /// after a failure (at once after a removal was kept), the second 250 milliseconds after the first fails, and each
    /// later one after twice the wait before it, up to this. Shorter than 49 days.
    /// </summary>
    /// <value>The default is 5 seconds.</value>
    public TimeSpan CircuitBreakDuration { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Gets or sets how many removals are kept for one server that could not be reached (keys, and tags counted once).
    /// Past it, they are replaced by a clear of the store's namespaces on that server (its database, for a store without
    /// a namespace, as rc's <c>clear()</c> does), delivered before the server serves again.
    /// </summary>
    /// <value>The default is 10000.</value>
    public int PendingRemovalLimit { get; set; } = 10_000;

    /// <summary>
    /// Gets or sets how long removals (and registrations of entries under tags) are remembered after they were made, to
    /// be delivered again to a server that may have lost them after acknowledging them: one restarted from its disk (a
    /// new <c>run_id</c>), or a cluster replica promoted to primary. The window reaches back from when the server was
    /// lost. Cover the cluster's <c>cluster-node-timeout</c> plus the append-only file's fsync interval.
    /// </summary>
    /// <value>The default is 30 seconds.</value>
    public TimeSpan RemovalReplayWindow { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets the longest key accepted, in characters, before the namespace is added.</summary>
    /// <value>The default is 1024.</value>
    public int MaximumKeyLength { get; set; } = 1024;

    /// <summary>Gets or sets the largest value stored, in bytes; a larger one is not stored, and this is logged.</summary>
    /// <value>The default is 8388608 (8 MiB).</value>
    public int MaximumValueSize { get; set; } = 8 * 1024 * 1024;

    /// <summary>
    /// Gets or sets the bound of the memory store, in bytes of keys and values, and of tags and their members; past it,
    /// tags that tag nothing go first, then entries never read, then the least recently read.
    /// </summary>
    /// <value>The default is 209715200 (200 MiB).</value>
    public long MemorySizeLimit { get; set; } = 200L * 1024 * 1024;

    /// <summary>
    /// Gets or sets the response header that tells whether <c>[RcCached]</c> served a hit (<c>HIT</c>), ran the handler
    /// (<c>MISS</c>) or served a fail-safe fallback (<c>STALE</c>); empty to send none. An HTTP token.
    /// </summary>
    /// <value>The default is <c>X-Cache</c>.</value>
    public string CacheStatusHeader { get; set; } = "X-Cache";

    /// <summary>Gets or sets how many single loaders of one batch flush run at once (load-many loaders run once per flush).</summary>
    /// <value>The default is 4.</value>
    public int BatchConcurrency { get; set; } = 4;

    /// <summary>Gets the fail-safe settings: expired entries kept as fallbacks while their source fails.</summary>
    /// <value>The default is fail-safe off.</value>
    public RcFailSafeOptions FailSafe { get; } = new();

    /// <summary>
    /// Gets or sets how long a caller waits for a factory when a fallback exists (fail-safe): past it, the caller gets the
    /// fallback while the factory goes on, and its result is stored when it completes.
    /// </summary>
    /// <value>The default is none: callers wait for the factory.</value>
    public TimeSpan? FactorySoftTimeout { get; set; }

    /// <summary>
    /// Gets or sets how long a caller waits for a factory at most: past it, the caller gets the fallback if one exists, and
    /// otherwise the factory's failure (a <see cref="TimeoutException"/>); the factory goes on, and its result is stored.
    /// </summary>
    /// <value>The default is none.</value>
    public TimeSpan? FactoryHardTimeout { get; set; }

    /// <summary>
    /// Gets or sets the fraction of an entry's lifetime after which a hit starts one refresh in the background (one per key
    /// per process, or per fleet with <see cref="RcStampedeProtection.Fleet"/>), so that a hot entry never makes a reader
    /// wait for its factory. Between 0 and 1, both excluded.
    /// </summary>
    /// <value>The default is none: no eager refresh.</value>
    public double? EagerRefreshThreshold { get; set; }

    /// <summary>Gets or sets who runs a factory when many callers miss one key at once: one per process, or one in the whole fleet.</summary>
    /// <value>The default is <see cref="RcStampedeProtection.Process"/>.</value>
    public RcStampedeProtection StampedeProtection { get; set; } = RcStampedeProtection.Process;

    /// <summary>Gets the near cache settings: an in-process copy of what is read from Redis, kept coherent by Redis.</summary>
    /// <value>The default is a near cache that is off.</value>
    public RcNearCacheOptions NearCache { get; } = new();

    /// <summary>Gets the named caches (rc's <c>models_cache</c>, <c>templates_cache</c>), each resolved as a keyed <see cref="IRcCache"/>.</summary>
    /// <value>The default is none.</value>
    public Dictionary<string, RcNamedCacheOptions> Caches { get; } = new(StringComparer.Ordinal);

    /// <summary>Gets or sets whether <c>UseRcRedisConnection()</c> gave the store the application's own multiplexer.</summary>
    internal bool UsesAppConnection { get; set; }

    /// <summary>Gets the configuration path these options were bound from, for error messages.</summary>
    internal string ConfigurationPath { get; set; } = SectionName;

    /// <summary>Gets the settings that could not be bound (unknown names, values of the wrong kind), as messages.</summary>
    internal List<string> BindingErrors { get; } = [];
}
