using System.Collections.Concurrent;
using StackExchange.Redis;

namespace RcAspNet.Tests.Infrastructure;

/// <summary>
/// Lets time pass for the keys of one namespace on real Redis servers, without waiting: every key's TTL shrinks by
/// the time passed, and a key whose TTL runs out is deleted, as if the server's clock had moved. A test moves the
/// application's fake clock by the same amount, so expiry is tested exactly, on a loaded machine too.
/// </summary>
public static class RedisTime
{
    private static readonly ConcurrentDictionary<string, Lazy<Task<ConnectionMultiplexer>>> Connections = new();

    /// <param name="configuration">The servers: one endpoint, several (shards), or a cluster's nodes, comma-separated.</param>
    public static async Task PassAsync(string configuration, string prefix, TimeSpan time)
    {
        foreach (var endPoint in configuration.Split(','))
        {
            var connection = await Connections.GetOrAdd(endPoint, static ep => new(() => ConnectionMultiplexer.ConnectAsync(ep))).Value;
            var server = connection.GetServer(endPoint);
            if (server.IsReplica)
            {
                continue;
            }

            var database = connection.GetDatabase();
            await foreach (var key in server.KeysAsync(pattern: prefix.Replace("[", "\\[", StringComparison.Ordinal) + "*", pageSize: 1000))
            {
                if (await database.KeyTimeToLiveAsync(key) is not { } ttl)
                {
                    continue;
                }

                if (ttl <= time)
                {
                    await database.KeyDeleteAsync(key);
                }
                else
                {
                    await database.KeyExpireAsync(key, ttl - time);
                }
            }
        }
    }

    /// <summary>The servers of a Redis-backed store's options, comma-separated; empty for an in-process store.</summary>
    public static string ServersOf(RcOptions options) => options.Store switch
    {
        RcStoreKind.Redis => options.Redis!,
        RcStoreKind.Sharded => string.Join(",", options.Shards.Values.Select(static s => $"{s.Host}:{s.Port}")),
        _ => "",
    };
}
