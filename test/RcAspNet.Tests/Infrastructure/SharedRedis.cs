namespace RcAspNet.Tests.Infrastructure;

/// <summary>
/// Servers shared by the whole run, started once on first use: one single server, three shards and a three-master
/// cluster. Tests isolate themselves with a namespace of their own; tests that count commands start servers of their own.
/// </summary>
public static class SharedRedis
{
    private static readonly Lazy<Task<RedisServer>> SingleServer = new(() => RedisServer.StartAsync());
    private static readonly Lazy<Task<RedisServer[]>> ShardServers = new(() => RedisServer.StartManyAsync(3));
    private static readonly Lazy<Task<RedisClusterServers>> ClusterServers = new(RedisClusterServers.StartAsync);

    public static Task<RedisServer> Single => SingleServer.Value;

    public static Task<RedisServer[]> Shards => ShardServers.Value;

    public static Task<RedisClusterServers> Cluster => ClusterServers.Value;

    /// <summary>A namespace no other test uses.</summary>
    public static string UniqueNamespace() => $"t{Guid.NewGuid():N}:";
}
