namespace RcAspNet.Tests.Infrastructure;

/// <summary>The settings that point an app at each kind of store on the shared servers, for suites run against every store.</summary>
public static class SharedStores
{
    public static Task<Action<RcOptions>> Memory() => Task.FromResult<Action<RcOptions>>(static _ => { });

    public static async Task<Action<RcOptions>> RedisAsync()
    {
        var server = await SharedRedis.Single;
        return o => TestServices.Redis(o, server);
    }

    public static async Task<Action<RcOptions>> ShardedAsync(RcRouterKind router = RcRouterKind.Crc32)
    {
        var servers = await SharedRedis.Shards;
        return o => TestServices.Sharded(o, servers, router);
    }

    public static async Task<Action<RcOptions>> ClusterAsync()
    {
        var cluster = await SharedRedis.Cluster;
        return o => (o.Store, o.Redis) = (RcStoreKind.Redis, cluster.Configuration);
    }
}
