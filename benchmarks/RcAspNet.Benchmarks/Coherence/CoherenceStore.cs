using System.Globalization;
using RcAspNet.Tests.Infrastructure;
using StackExchange.Redis;

namespace RcAspNet.Benchmarks.Coherence;

/// <summary>
/// The servers behind one store kind (one Redis, three shards, or a three-primary cluster), how an app node is configured
/// for them, and a raw StackExchange.Redis client of their own: the foreign writer, and the counter of the GET commands
/// the servers ran.
/// </summary>
internal sealed class CoherenceStore : IAsyncDisposable
{
    private readonly IAsyncDisposable[] _processes;
    private readonly ConnectionMultiplexer[] _connections;

    private CoherenceStore(string name, Action<RcOptions> configure, IAsyncDisposable[] processes, ConnectionMultiplexer[] connections)
    {
        Name = name;
        Configure = configure;
        _processes = processes;
        _connections = connections;
    }

    public static IReadOnlyList<string> Names { get; } = ["redis", "sharded", "cluster"];

    public string Name { get; }

    /// <summary>Gets the store settings of an app node.</summary>
    public Action<RcOptions> Configure { get; }

    public static async Task<CoherenceStore> StartAsync(string name)
    {
        switch (name)
        {
            case "redis":
                var server = await RedisServer.StartAsync();
                return new(name, o => (o.Store, o.Redis) = (RcStoreKind.Redis, server.EndPoint), [server], [await ConnectAsync(server.EndPoint)]);
            case "sharded":
                var shards = await RedisServer.StartManyAsync(3);
                return new(name, o =>
                {
                    o.Store = RcStoreKind.Sharded;
                    for (var i = 0; i < shards.Length; i++)
                    {
                        o.Shards[string.Create(CultureInfo.InvariantCulture, $"cache{i + 1:00}")] = new RcShardOptions { Host = "127.0.0.1", Port = shards[i].Port };
                    }
                }, shards, await Task.WhenAll(shards.Select(static s => ConnectAsync(s.EndPoint))));
            case "cluster":
                var cluster = await RedisClusterServers.StartAsync();
                return new(name, o => (o.Store, o.Redis) = (RcStoreKind.Redis, cluster.Configuration), [cluster], [await ConnectAsync(cluster.Configuration)]);
            default:
                throw new ArgumentOutOfRangeException(nameof(name), name, $"Unknown store; expected one of {string.Join(", ", Names)}.");
        }
    }

    /// <summary>
    /// The raw client's database for each namespaced key, on the server that holds it (as rc's Python code, routing the
    /// key itself, would write it): the only one for one Redis or a cluster (the client follows the slots), else the
    /// shard on which an app node stored the key.
    /// </summary>
    public async Task<IDatabase[]> OwnersAsync(IReadOnlyList<string> namespacedKeys)
    {
        var owners = new IDatabase[namespacedKeys.Count];
        for (var i = 0; i < owners.Length; i++)
        {
            foreach (var connection in _connections)
            {
                if (_connections.Length == 1 || await connection.GetDatabase().KeyExistsAsync(namespacedKeys[i]))
                {
                    owners[i] = connection.GetDatabase();
                    break;
                }
            }

            _ = owners[i] ?? throw new InvalidOperationException($"No server holds {namespacedKeys[i]}.");
        }

        return owners;
    }

    /// <summary>Returns how many GET commands the servers ran so far (INFO commandstats, <c>cmdstat_get</c> calls, summed).</summary>
    public async Task<long> GetCallsAsync()
    {
        var calls = 0L;
        foreach (var connection in _connections)
        {
            foreach (var endPoint in connection.GetEndPoints())
            {
                var info = await connection.GetServer(endPoint).InfoAsync("commandstats");
                calls += info.SelectMany(static g => g)
                    .Where(static p => p.Key == "cmdstat_get")
                    .Sum(static p => long.Parse(p.Value.Split(',')[0]["calls=".Length..], CultureInfo.InvariantCulture));
            }
        }

        return calls;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var connection in _connections)
        {
            await connection.DisposeAsync();
        }

        foreach (var process in _processes)
        {
            await process.DisposeAsync();
        }
    }

    /// <summary>StackExchange.Redis sends INFO only in admin mode.</summary>
    private static Task<ConnectionMultiplexer> ConnectAsync(string configuration) =>
        ConnectionMultiplexer.ConnectAsync(configuration + ",allowAdmin=true");
}
