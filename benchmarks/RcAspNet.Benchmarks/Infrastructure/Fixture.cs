using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Stores;
using StackExchange.Redis;

namespace RcAspNet.Benchmarks.Infrastructure;

/// <summary>
/// What one benchmark process measures against: its own redis-server processes, the raw client's connections to them
/// (made from the configuration the store itself uses), and RcAspNet built the way an application builds it, with
/// <c>AddRcCache</c>.
/// </summary>
internal sealed class Fixture : IAsyncDisposable
{
    private readonly RedisServer[] _servers;
    private readonly ConnectionMultiplexer[] _connections;

    private Fixture(RedisServer[] servers, ConnectionMultiplexer[] connections, IRcRouter? router, ServiceProvider services)
    {
        _servers = servers;
        _connections = connections;
        Raw = connections.Select(static c => c.GetDatabase()).ToArray();
        Router = router;
        Services = services;
        Cache = services.GetRequiredService<IBufferDistributedCache>();
        Typed = services.GetRequiredService<IRcCache>();
    }

    /// <summary>Gets the raw client's database of each server, in shard order.</summary>
    public IDatabase[] Raw { get; }

    /// <summary>Gets the router of a sharded store (the raw client routes its own keys with it), or null.</summary>
    public IRcRouter? Router { get; }

    public ServiceProvider Services { get; }

    /// <summary>Gets RcAspNet's <see cref="IDistributedCache"/>, which is also the <see cref="IBufferDistributedCache"/>.</summary>
    public IBufferDistributedCache Cache { get; }

    public IRcCache Typed { get; }

    /// <summary>Starts what <paramref name="store"/> needs: nothing for Memory, one server for Redis, <paramref name="shards"/> for Sharded.</summary>
    public static async Task<Fixture> StartAsync(RcStoreKind store, int shards = 3)
    {
        var count = store switch { RcStoreKind.Redis => 1, RcStoreKind.Sharded => shards, _ => 0 };
        var servers = await RedisServer.StartManyAsync(count);
        var shardOptions = servers
            .Select((s, i) => (Name: $"cache{i + 1:00}", Options: new RcShardOptions { Host = "127.0.0.1", Port = s.Port }))
            .ToArray();

        var services = new ServiceCollection();
        services.AddRcCache(o =>
        {
            o.Store = store;
            o.Namespace = Keys.RcNamespace;
            if (store == RcStoreKind.Redis)
            {
                o.Redis = servers[0].EndPoint;
            }

            if (store == RcStoreKind.Sharded)
            {
                foreach (var (name, options) in shardOptions)
                {
                    o.Shards[name] = options;
                }
            }
        });

        var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });

        // The raw client's connections, configured exactly as the store configures its own.
        var configurations = store == RcStoreKind.Sharded
            ? shardOptions.Select(static s => StoreFactory.Configuration(s.Options)).ToArray()
            : servers.Select(static s => ConfigurationOptions.Parse(s.EndPoint)).ToArray();
        var connections = new ConnectionMultiplexer[configurations.Length];
        for (var i = 0; i < connections.Length; i++)
        {
            configurations[i].AbortOnConnectFail = false;
            connections[i] = await ConnectionMultiplexer.ConnectAsync(configurations[i]);
        }

        var router = store == RcStoreKind.Sharded ? new Crc32Router(shardOptions.Select(static s => s.Name)) : null;
        return new Fixture(servers, connections, router, provider);
    }

    /// <summary>The raw client's database for a key: the one server, or the shard the router picks.</summary>
    public IDatabase RawFor(string key) => Router is null ? Raw[0] : Raw[Router.GetShard(key)];

    public async ValueTask DisposeAsync()
    {
        await Services.DisposeAsync();
        foreach (var connection in _connections)
        {
            await connection.CloseAsync(allowCommandsToComplete: false);
            connection.Dispose();
        }

        foreach (var server in _servers)
        {
            server.Dispose();
        }
    }
}
