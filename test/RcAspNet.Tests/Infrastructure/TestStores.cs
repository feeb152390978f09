using Microsoft.Extensions.Logging.Abstractions;
using RcAspNet.Diagnostics;
using RcAspNet.Stores;

namespace RcAspNet.Tests.Infrastructure;

/// <summary>Builds stores the way AddRcCache does, against the shared servers.</summary>
public static class TestStores
{
    internal static RcOptions Options(Action<RcOptions>? configure = null)
    {
        // Throw: a contract test must see a store failure, not a miss that looks like one.
        var options = new RcOptions { OperationTimeout = TimeSpan.FromSeconds(5), FailureMode = RcFailureMode.Throw };
        configure?.Invoke(options);
        return options;
    }

    internal static IRcStore Memory(TimeProvider time, long sizeLimit = 64 * 1024 * 1024) => new MemoryStore(sizeLimit, time, RcMetrics.Standalone);

    internal static IRcStore Create(RcOptions options, TimeProvider? time = null, RcMetrics? metrics = null) =>
        new StoreFactory(options, time ?? TimeProvider.System, metrics ?? RcMetrics.Standalone, NullLoggerFactory.Instance)
            .Create(options.Store, options.Redis, options.Router, options.Shards, [options.Namespace]);

    internal static async Task<IRcStore> RedisAsync()
    {
        var server = await SharedRedis.Single;
        return Create(Options(o => (o.Store, o.Redis) = (RcStoreKind.Redis, server.EndPoint)));
    }

    internal static async Task<IRcStore> ShardedAsync(RcRouterKind router) => Create(ShardedOptions(await SharedRedis.Shards, router));

    internal static async Task<IRcStore> ClusterAsync()
    {
        var cluster = await SharedRedis.Cluster;
        return Create(Options(o => (o.Store, o.Redis) = (RcStoreKind.Redis, cluster.Configuration)));
    }

    internal static RcOptions ShardedOptions(IReadOnlyList<RedisServer> servers, RcRouterKind router) =>
        Options(o => TestServices.Sharded(o, servers, router));
}
