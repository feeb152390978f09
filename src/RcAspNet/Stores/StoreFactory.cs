using Microsoft.Extensions.Logging;
using RcAspNet.Diagnostics;
using RcAspNet.Stores.Near;
using RcAspNet.Stores.Redis;
using StackExchange.Redis;

namespace RcAspNet.Stores;

/// <summary>
/// Builds the store a configuration names. Connections are made lazily, on first use, so an absent server never
/// breaks start-up. Every Redis store it builds closes GETs in flight in all of them (<see cref="GetTables"/>), and when
/// the near cache is on, they share one <see cref="NearCopies"/>.
/// </summary>
internal sealed class StoreFactory(RcOptions options, TimeProvider time, RcMetrics metrics, ILoggerFactory loggerFactory, IRcRouter? customRouter = null, IConnectionMultiplexer? appConnection = null)
{
    private readonly NearCopies? _near = options.NearCache.Enabled ? new NearCopies(options.NearCache.MaximumSize, time) : null;
    private readonly GetTables _gets = new();

    /// <summary>Gets the near cache every Redis-backed store of this factory fills; null when it is off.</summary>
    public NearCopies? Near => _near;

    /// <param name="kind">The kind of store.</param>
    /// <param name="redis">The client configuration string, for a Redis store; null for the application's own connection (<c>UseRcRedisConnection()</c>).</param>
    /// <param name="router">The router, for a sharded store.</param>
    /// <param name="shards">The shards, for a sharded store.</param>
    /// <param name="namespaces">The namespaces that will live in the store, whose changes the near cache follows.</param>
    public IRcStore Create(RcStoreKind kind, string? redis, RcRouterKind router, IReadOnlyDictionary<string, RcShardOptions> shards, IReadOnlyCollection<string> namespaces) => kind switch
    {
        RcStoreKind.Memory => new MemoryStore(options.MemorySizeLimit, time, metrics),
        RcStoreKind.Null => NullStore.Instance,
        RcStoreKind.Redis when redis is null && appConnection is not null =>
            new RedisStore(ConfigurationOptions.Parse(appConnection.Configuration), "redis", "redis", options, time, metrics, Logger(), _near, namespaces, appConnection, _gets),
        RcStoreKind.Redis => new RedisStore(Trusting(ConfigurationOptions.Parse(redis!)), "redis", "redis", options, time, metrics, Logger(), _near, namespaces, gets: _gets),
        RcStoreKind.Sharded => CreateSharded(router, shards, namespaces),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown store kind."),
    };

    public ShardedStore CreateSharded(RcRouterKind router, IReadOnlyDictionary<string, RcShardOptions> shards, IReadOnlyCollection<string> namespaces)
    {
        var routing = customRouter ?? (router == RcRouterKind.Ketama ? new KetamaRouter(shards.Select(static s => KeyValuePair.Create(s.Key, KetamaRouter.Identity(s.Value.Host, s.Value.Port, s.Value.Db, s.Value.UnixSocketPath)))) : new Crc32Router(shards.Keys));
        var stores = routing.Shards
            .Select(name => shards.TryGetValue(name, out var shard)
                ? (IRcStore)new RedisStore(Trusting(Configuration(shard)), "sharded", name, options, time, metrics, Logger(), _near, namespaces, gets: _gets)
                : throw new InvalidOperationException($"The router routes to '{name}', which is not a configured shard."))
            .ToArray();
        return new ShardedStore(routing, stores);
    }

    /// <summary>
    /// The client configuration of one shard: its unix socket when it has one (as rc's redis-py connects), else host and
    /// port; its ACL user and password; TLS, validated against <see cref="RcShardOptions.SslHost"/> when it is set.
    /// </summary>
    public static ConfigurationOptions Configuration(RcShardOptions shard)
    {
        var configuration = new ConfigurationOptions
        {
            AbortOnConnectFail = false,
            DefaultDatabase = shard.Db,
            User = shard.User,
            Password = shard.Password,
            Ssl = shard.Ssl,
        };
        if (!string.IsNullOrEmpty(shard.SslHost))
        {
            configuration.SslHost = shard.SslHost;
        }

        if (shard.UnixSocketPath is { Length: > 0 } path)
        {
            configuration.EndPoints.Add(new System.Net.Sockets.UnixDomainSocketEndPoint(path));
        }
        else
        {
            configuration.EndPoints.Add(shard.Host, shard.Port);
        }

        return configuration;
    }

    /// <summary>Makes the client trust <see cref="RcOptions.SslCaFile"/> too, when it is set (the store's own connections do, from the same setting).</summary>
    private ConfigurationOptions Trusting(ConfigurationOptions configuration)
    {
        if (!string.IsNullOrEmpty(options.SslCaFile))
        {
            configuration.TrustIssuer(TrustedAuthority.Load(options.SslCaFile));
        }

        return configuration;
    }

    private QuietLogger Logger() => new(loggerFactory.CreateLogger("RcAspNet.Stores.RedisStore"));
}
