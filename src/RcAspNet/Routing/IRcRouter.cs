namespace RcAspNet;

/// <summary>
/// Picks the shard of a key for a sharded store (rc's <c>BaseRedisRouter</c>). Register one in DI to replace the
/// configured <see cref="RcOptions.Router"/>. Implementations must be thread-safe, name only configured shards in
/// <see cref="Shards"/>, and return an index of one of them.
/// </summary>
public interface IRcRouter
{
    /// <summary>Gets the names of the shards this router routes to.</summary>
    IReadOnlyList<string> Shards { get; }

    /// <summary>Returns the index in <see cref="Shards"/> of the shard that holds <paramref name="key"/>.</summary>
    /// <param name="key">The namespaced key, exactly as sent to Redis.</param>
    int GetShard(string key);
}
