using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace RcAspNet.Tests.Infrastructure;

/// <summary>A service provider with AddRcCache, as an application builds it.</summary>
public static class TestServices
{
    public static ServiceProvider Build(Action<RcOptions> configure, Action<IServiceCollection>? more = null)
    {
        var services = new ServiceCollection();
        services.AddRcCache(o =>
        {
            // A slow moment of a loaded machine must not turn a call into a timeout that reads as a miss; tests of faults set their own.
            o.OperationTimeout = TimeSpan.FromSeconds(5);
            configure(o);
        });
        more?.Invoke(services);
        var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateScopes = true, ValidateOnBuild = true });
        _ = provider.GetRequiredService<IOptions<RcOptions>>().Value;
        return provider;
    }

    public static void Redis(RcOptions options, RedisServer server)
    {
        options.Store = RcStoreKind.Redis;
        options.Redis = server.EndPoint;
    }

    /// <summary>The settings (Rc:Shards:cache01...) that point an app's configuration at <paramref name="servers"/>, as <see cref="Sharded"/> does its options.</summary>
    public static void ShardSettings(IDictionary<string, string?> settings, IReadOnlyList<RedisServer> servers)
    {
        settings["Rc:Store"] = "Sharded";
        for (var i = 0; i < servers.Count; i++)
        {
            settings[$"Rc:Shards:cache0{i + 1}:Host"] = "127.0.0.1";
            settings[$"Rc:Shards:cache0{i + 1}:Port"] = servers[i].Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    public static void Sharded(RcOptions options, IReadOnlyList<RedisServer> servers, RcRouterKind router = RcRouterKind.Crc32)
    {
        options.Store = RcStoreKind.Sharded;
        options.Router = router;
        for (var i = 0; i < servers.Count; i++)
        {
            options.Shards[$"cache0{i + 1}"] = new RcShardOptions { Host = "127.0.0.1", Port = servers[i].Port };
        }
    }
}
