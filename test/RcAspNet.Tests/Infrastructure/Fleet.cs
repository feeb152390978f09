namespace RcAspNet.Tests.Infrastructure;

/// <summary>
/// Real redis-server processes private to one test, which may freeze, kill or restart them: one server, three shards,
/// or a three-primary cluster whose nodes count one another failed only after a long node timeout (so that a freeze of
/// a few seconds is a freeze, not a failover).
/// </summary>
public sealed class Fleet : IAsyncDisposable
{
    private readonly RedisClusterServers? _cluster;

    private Fleet(FleetKind kind, IReadOnlyList<RedisServer> servers, RedisClusterServers? cluster)
    {
        Kind = kind;
        Servers = servers;
        _cluster = cluster;
    }

    public FleetKind Kind { get; }

    /// <summary>Gets every server: the one, the shards in order, or the cluster's primaries.</summary>
    public IReadOnlyList<RedisServer> Servers { get; }

    /// <summary>Gets the server a test does its fault to: the one server, the second shard, or the second primary.</summary>
    public RedisServer Victim => Servers[Servers.Count > 1 ? 1 : 0];

    /// <summary>Starts the servers, each with <paramref name="serverArgs"/> (an append-only file, say).</summary>
    public static async Task<Fleet> StartAsync(FleetKind kind, params string[] serverArgs)
    {
        switch (kind)
        {
            case FleetKind.Redis:
                return new Fleet(kind, [await RedisServer.StartAsync(serverArgs)], null);
            case FleetKind.Shards:
                return new Fleet(kind, await RedisServer.StartManyAsync(3, serverArgs), null);
            default:
                var cluster = await RedisClusterServers.StartAsync(TimeSpan.FromSeconds(30), serverArgs);
                return new Fleet(kind, cluster.Nodes, cluster);
        }
    }

    /// <summary>Points a cache's options at the fleet.</summary>
    public void Configure(RcOptions options)
    {
        switch (Kind)
        {
            case FleetKind.Shards:
                TestServices.Sharded(options, Servers);
                break;
            default:
                options.Store = RcStoreKind.Redis;
                options.Redis = _cluster?.Configuration ?? Servers[0].EndPoint;
                break;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
            return;
        }

        foreach (var server in Servers)
        {
            await server.DisposeAsync();
        }
    }
}
