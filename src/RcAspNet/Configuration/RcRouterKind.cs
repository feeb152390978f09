namespace RcAspNet;

/// <summary>How a sharded store picks the shard of a key. Both match rc 0.3.1, so .NET and Python clients agree.</summary>
public enum RcRouterKind
{
    /// <summary>rc's <c>RedisCRC32HashRouter</c>: CRC-32 of the key, modulo the shard count, over the shard names in sorted order.</summary>
    Crc32,

    /// <summary>rc's <c>RedisConsistentHashRouter</c>: a ketama ring of 160 points per shard.</summary>
    Ketama,
}
