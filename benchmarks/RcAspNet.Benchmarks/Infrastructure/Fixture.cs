using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using RcAspNet.Tests.Infrastructure;
using StackExchange.Redis;

namespace RcAspNet.Benchmarks.Infrastructure;

/// <summary>
/// What one benchmark process measures against: its own redis-server processes; the raw client's connections to them;
/// RcAspNet built the way an application builds it (<c>AddRcCache</c>, then <see cref="IDistributedCache"/>,
/// <see cref="IRcCache"/> and <see cref="IRcBatch"/> resolved from DI); and, on one Redis server, Microsoft's
/// <see cref="RedisCache"/> (Microsoft.Extensions.Caching.StackExchangeRedis). Each contender has a connection of its
/// own to the same server, made from the same settings (<c>host:port</c>, <c>AbortOnConnectFail=false</c>).
/// Only RcAspNet's public API is used here. RcAspNet degrades a failed or slow store operation (over
/// <c>Rc:OperationTimeout</c>, 500 ms) to a miss and opens its circuit, and a miss that never reached Redis is fast: the
/// fixture counts the failures RcAspNet reports (its <c>rc.store.errors</c> counter) and fails the case at cleanup if
/// any happened after set-up, so that no row can show a failure as a fast Get.
/// </summary>
internal sealed class Fixture : IAsyncDisposable
{
    private const int SetUpAttempts = 20;

    private readonly RedisServer[] _servers;
    private readonly ConnectionMultiplexer[] _connections;
    private readonly MeterListener _storeErrors = new();
    private readonly ConcurrentDictionary<string, long> _failures = new(StringComparer.Ordinal);
    private RedisCache? _microsoft;

    private Fixture(RedisServer[] servers, ConnectionMultiplexer[] connections, ServiceProvider services)
    {
        _servers = servers;
        _connections = connections;
        Raw = connections.Select(static c => c.GetDatabase()).ToArray();
        Services = services;
        Cache = services.GetRequiredService<IBufferDistributedCache>();
        Typed = services.GetRequiredService<IRcCache>();
        _storeErrors.InstrumentPublished = static (instrument, listener) =>
        {
            if (instrument.Meter.Name == RcDiagnostics.MeterName && instrument.Name == "rc.store.errors")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _storeErrors.SetMeasurementEventCallback<long>((_, value, tags, _) => _failures.AddOrUpdate(FailureKind(tags), value, (_, sum) => sum + value));
        _storeErrors.Start();
    }

    /// <summary>Gets the raw client's database of each server, in the order of the shard names (cache01, cache02, ...).</summary>
    public IDatabase[] Raw { get; }

    /// <summary>Gets the application's services: <c>AddRcCache</c> and whatever the benchmark added.</summary>
    public ServiceProvider Services { get; }

    /// <summary>Gets RcAspNet's <see cref="IDistributedCache"/>, which is also the <see cref="IBufferDistributedCache"/>.</summary>
    public IBufferDistributedCache Cache { get; }

    public IRcCache Typed { get; }

    /// <summary>Gets Microsoft's <see cref="RedisCache"/> on the first server, with InstanceName <see cref="Keys.Microsoft"/>; made on first use.</summary>
    public RedisCache Microsoft => _microsoft ??= new RedisCache(Options.Create(ConfigureMicrosoft(new RedisCacheOptions())));

    /// <summary>
    /// Starts what <paramref name="store"/> needs (nothing for Memory, one server for Redis, <paramref name="shards"/>
    /// for Sharded) and builds the services: <c>AddRcCache</c>, then <paramref name="configure"/>.
    /// </summary>
    public static async Task<Fixture> StartAsync(RcStoreKind store, int shards = 3, Action<IServiceCollection>? configure = null)
    {
        RedisClient.CheckBenchmarkProcess();
        var count = store switch { RcStoreKind.Redis => 1, RcStoreKind.Sharded => shards, _ => 0 };
        var servers = await RedisServer.StartManyAsync(count);
        var shardNames = servers.Select(static (_, i) => $"cache{i + 1:00}").ToArray();

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
                for (var i = 0; i < servers.Length; i++)
                {
                    o.Shards[shardNames[i]] = new RcShardOptions { Host = "127.0.0.1", Port = servers[i].Port };
                }
            }
        });
        configure?.Invoke(services);
        var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });

        var connections = new ConnectionMultiplexer[servers.Length];
        for (var i = 0; i < connections.Length; i++)
        {
            connections[i] = await ConnectionMultiplexer.ConnectAsync(Configuration(servers[i]));
        }

        return new Fixture(servers, connections, provider);
    }

    /// <summary>
    /// Starts a Redis Cluster of three primaries (<see cref="RedisClusterServers"/>) and builds the services against it:
    /// <c>AddRcCache</c> with <c>Rc:Redis</c> naming every node; the raw client (<see cref="Raw"/>) and Microsoft's
    /// <see cref="RedisCache"/> reach the cluster too.
    /// </summary>
    public static async Task<Fixture> StartClusterAsync()
    {
        RedisClient.CheckBenchmarkProcess();
        var cluster = await RedisClusterServers.StartAsync();
        var services = new ServiceCollection();
        services.AddRcCache(o =>
        {
            o.Store = RcStoreKind.Redis;
            o.Namespace = Keys.RcNamespace;
            o.Redis = cluster.Configuration;
        });
        var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
        var configuration = ConfigurationOptions.Parse(cluster.Configuration);
        configuration.AbortOnConnectFail = false;
        return new Fixture([.. cluster.Nodes], [await ConnectionMultiplexer.ConnectAsync(configuration)], provider);
    }

    /// <summary>
    /// Runs a benchmark's set-up (its writes and its checks) until it passes, at most 20 times a second apart: a cold
    /// process on a busy machine can take longer than <c>Rc:OperationTimeout</c> for its first operations, which then
    /// fail and open RcAspNet's circuit for a few seconds. Failures counted until it passes do not fail the case.
    /// </summary>
    public async Task SetUpAsync(Func<Task> steps)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await steps();
                break;
            }
            catch (Exception ex) when (attempt < SetUpAttempts)
            {
                Console.WriteLine($"// Set-up attempt {attempt} failed ({ex.GetType().Name}: {ex.Message}; RcAspNet store errors so far: {Failures()}); retrying in 1 s.");
                await Task.Delay(TimeSpan.FromSeconds(1));
            }
        }

        _failures.Clear();
    }

    /// <summary>Points Microsoft's options at the first server, as <see cref="Microsoft"/> is (for <c>AddStackExchangeRedisCache</c>).</summary>
    public RedisCacheOptions ConfigureMicrosoft(RedisCacheOptions options)
    {
        if (_servers.Length == 0)
        {
            throw new InvalidOperationException("Microsoft's RedisCache needs a fixture with a Redis server (RcStoreKind.Redis or Sharded).");
        }

        options.ConfigurationOptions = Configuration(_servers[0]);
        options.InstanceName = Keys.Microsoft;
        return options;
    }

    /// <summary>
    /// Fails the set-up unless each of 10 calls of <paramref name="operation"/> runs at least one command on the first
    /// server (counted by Redis, INFO commandstats): proof that a two-level cache's measured path reaches Redis.
    /// </summary>
    public async Task CheckEachCallReachesRedisAsync(Func<Task> operation, string what)
    {
        const int Calls = 10;

        // INFO is an admin command for the client: a connection of its own, used only here, before anything is measured.
        var admin = Configuration(_servers[0]);
        admin.AllowAdmin = true;
        await using var connection = await ConnectionMultiplexer.ConnectAsync(admin);
        var server = connection.GetServer(connection.GetEndPoints()[0]);
        var before = await CommandsRunAsync(server);
        for (var i = 0; i < Calls; i++)
        {
            await operation();
        }

        // The first INFO is counted by the second one.
        var commands = await CommandsRunAsync(server) - before - 1;
        Entries.Check(commands >= Calls, $"{what}: {Calls} calls ran {commands} Redis commands, fewer than one each");
    }

    /// <summary>
    /// The raw client's database of the server on which RcAspNet stored <paramref name="key"/> (under its namespace):
    /// where the raw client sends its own calls for the same key, so that on shards both spread keys alike. Read back
    /// from the servers, so no routing is re-implemented here; the key must have been written through RcAspNet first.
    /// </summary>
    public async Task<IDatabase> ServerHoldingAsync(string key)
    {
        if (Raw.Length == 1)
        {
            return Raw[0];
        }

        var holders = new List<IDatabase>();
        foreach (var raw in Raw)
        {
            if (await raw.KeyExistsAsync(Keys.RcNamespace + key))
            {
                holders.Add(raw);
            }
        }

        Entries.Check(holders.Count == 1, $"RcAspNet's entry '{key}' is on {holders.Count} servers, not one");
        return holders[0];
    }

    public async ValueTask DisposeAsync()
    {
        var failures = _failures.Values.Sum();
        var kinds = Failures();
        _storeErrors.Dispose();
        _microsoft?.Dispose();
        await Services.DisposeAsync();
        foreach (var connection in _connections)
        {
            await connection.CloseAsync(allowCommandsToComplete: false);
            connection.Dispose();
        }

        foreach (var server in _servers)
        {
            await server.DisposeAsync();
        }

        if (failures > 0)
        {
            var message = $"RcAspNet reported {failures} failed store operations ({kinds}) while this case was measured: its RcAspNet rows timed failures, not Redis. Run it again on a quieter machine.";
            Console.WriteLine("// !!! " + message);
            throw new InvalidOperationException(message);
        }
    }

    /// <summary>"operation/error type" of one rc.store.errors measurement, such as <c>get/timeout</c> or <c>get/circuit_open</c>.</summary>
    private static string FailureKind(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        string? operation = null, type = null;
        foreach (var (name, value) in tags)
        {
            if (name == "rc.operation")
            {
                operation = value as string;
            }
            else if (name == "error.type")
            {
                type = value as string;
            }
        }

        return $"{operation ?? "?"}/{type ?? "?"}";
    }

    /// <summary>How many commands a server has run so far, by its own count (INFO commandstats).</summary>
    private static async Task<long> CommandsRunAsync(IServer server)
    {
        long calls = 0;
        foreach (var section in await server.InfoAsync("commandstats"))
        {
            foreach (var (name, value) in section)
            {
                // cmdstat_get:calls=3,usec=12,usec_per_call=4.00,...
                var first = value.Split(',')[0];
                if (name.StartsWith("cmdstat_", StringComparison.Ordinal) && first.StartsWith("calls=", StringComparison.Ordinal))
                {
                    calls += long.Parse(first["calls=".Length..], CultureInfo.InvariantCulture);
                }
            }
        }

        return calls;
    }

    /// <summary>The failures counted so far, by kind: <c>get/timeout: 1, get/circuit_open: 15</c>, or <c>none</c>.</summary>
    public string Failures() => _failures.IsEmpty
        ? "none"
        : string.Join(", ", _failures.OrderBy(static f => f.Key, StringComparer.Ordinal).Select(static f => $"{f.Key}: {f.Value}"));

    /// <summary>What every contender's connection is made from: <c>host:port</c> and <c>AbortOnConnectFail=false</c>, as RcAspNet makes its own.</summary>
    private static ConfigurationOptions Configuration(RedisServer server)
    {
        var configuration = ConfigurationOptions.Parse(server.EndPoint);
        configuration.AbortOnConnectFail = false;
        return configuration;
    }
}
