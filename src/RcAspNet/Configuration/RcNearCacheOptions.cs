namespace RcAspNet;

/// <summary>
/// The near cache: an in-process copy of the entries read from Redis, kept coherent by Redis itself (server-assisted
/// client-side caching, <c>CLIENT TRACKING</c> in broadcast mode), whoever writes: another node, a Python rc app,
/// <c>redis-cli</c>. It applies to the Redis, Sharded and Redis Cluster stores.
/// </summary>
public sealed class RcNearCacheOptions
{
    /// <summary>
    /// Gets or sets whether entries read from Redis are also kept in process. A warm hit then costs no Redis command; a
    /// change made by any client evicts the copy as soon as Redis says so; while a server's invalidation link is down,
    /// nothing is served from the copies of its keys.
    /// </summary>
    /// <value>The default is <see langword="false"/>.</value>
    public bool Enabled { get; set; }

    /// <summary>Gets or sets the bound of the near cache, in bytes of keys and values, shared by every store; past it, copies never read go first, then the least recently read.</summary>
    /// <value>The default is 67108864 (64 MiB).</value>
    public long MaximumSize { get; set; } = 64L * 1024 * 1024;
}
