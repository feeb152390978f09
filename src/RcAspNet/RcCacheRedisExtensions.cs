using RcAspNet.Caching;
using StackExchange.Redis;

namespace RcAspNet;

/// <summary>The one Redis-specific way into a cache: its connections, for raw commands.</summary>
public static class RcCacheRedisExtensions
{
    /// <summary>
    /// Returns the Redis connections behind <paramref name="cache"/> by shard name, for raw commands (rc's
    /// <c>get_client</c>): one for <c>Store=Redis</c> (a whole cluster's, for a Redis Cluster), one per shard for
    /// <c>Store=Sharded</c>. Connects first where needed.
    /// </summary>
    /// <exception cref="NotSupportedException">The cache is on the embedded store or the null store, which keep no Redis connections.</exception>
    public static ValueTask<IReadOnlyDictionary<string, IConnectionMultiplexer>> GetRedisConnectionsAsync(this IRcCache cache, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(cache);
        return cache is RcCache rc
            ? rc.GetRedisConnectionsAsync(cancellationToken)
            : throw new NotSupportedException($"{cache.GetType().Name} is not RcAspNet's cache; only its caches know their Redis connections.");
    }
}
