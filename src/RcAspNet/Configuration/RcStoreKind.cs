namespace RcAspNet;

/// <summary>Where a cache keeps its entries.</summary>
public enum RcStoreKind
{
    /// <summary>An in-process store bounded by <see cref="RcOptions.MemorySizeLimit"/>; no server needed.</summary>
    Memory,

    /// <summary>One Redis server, or a Redis Cluster, named by <see cref="RcOptions.Redis"/>.</summary>
    Redis,

    /// <summary>Several independent Redis servers (<see cref="RcOptions.Shards"/>), each key routed by <see cref="RcOptions.Router"/> as rc's <c>CacheCluster</c> does.</summary>
    Sharded,

    /// <summary>Stores nothing and never fails (rc's <c>NullCache</c>): every read misses.</summary>
    Null,
}
