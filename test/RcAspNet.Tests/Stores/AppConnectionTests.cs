#if ASPIRE_CLIENT
using Microsoft.Extensions.Caching.Distributed;
#endif
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using RcAspNet.Tests.Infrastructure;
using StackExchange.Redis;

namespace RcAspNet.Tests.Stores;

/// <summary>
/// An application that already holds a Redis connection, its own or the one Aspire's client integration registers
/// (Aspire.StackExchange.Redis, which needs no container: it reads <c>ConnectionStrings:{name}</c>), shares it with
/// RcAspNet in one line: the server then sees no second multiplexer, only the library's own named connections. (The
/// Aspire test runs where the client is 2.13.17 or newer, as Aspire's integration asks: ASPIRE_CLIENT.)
/// </summary>
public sealed class AppConnectionTests : IAsyncLifetime
{
    // Every call here is expected to succeed: a slow moment of a loaded machine must not turn one into a dropped write.
    private static readonly TimeSpan Unhurried = TimeSpan.FromSeconds(10);
    private RedisServer _server = null!;

    public async Task InitializeAsync() => _server = await RedisServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

#if ASPIRE_CLIENT
    [Fact]
    public async Task UseRcRedisConnection_SharesAspiresMultiplexer_AndOpensNoSecondOne()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration["ConnectionStrings:cache"] = _server.EndPoint;
        builder.AddRedisClient("cache");
        builder.Services.AddRcCache(o => (o.Store, o.Namespace, o.OperationTimeout) = (RcStoreKind.Redis, "app:", Unhurried)).UseRcRedisConnection();
        using var host = builder.Build();
        var multiplexer = host.Services.GetRequiredService<IConnectionMultiplexer>();
        await multiplexer.GetDatabase().PingAsync();
        var before = await ClientsAsync();

        var cache = host.Services.GetRequiredService<IRcCache>();
        var distributed = host.Services.GetRequiredService<IDistributedCache>();
        await cache.SetAsync("k", "value");
        Assert.Equal("value", await cache.GetAsync<string>("k"));
        distributed.Set("sync", [1], new DistributedCacheEntryOptions());
        Assert.Equal([1], distributed.Get("sync"));
        Assert.Equal("\"value\"", (string?)await multiplexer.GetDatabase().StringGetAsync("app:k"));
        Assert.Same(multiplexer, (await cache.GetRedisConnectionsAsync()).Single().Value);

        var after = await EventuallyAsync<(int Library, int Others)>(async () => await ClientsAsync() is var clients && clients.Library >= 2 ? clients : null);
        Assert.Equal(before.Others, after.Others);
        Assert.Equal(0, before.Library);
    }
#endif

    [Fact]
    public async Task UseRcRedisConnection_WithAKey_SharesTheKeyedMultiplexer()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddKeyedSingleton<IConnectionMultiplexer>("sessions", (_, _) => ConnectionMultiplexer.Connect(_server.EndPoint));
        builder.Services.AddRcCache(o => (o.Store, o.Namespace, o.OperationTimeout) = (RcStoreKind.Redis, "keyed:", Unhurried)).UseRcRedisConnection("sessions");
        using var host = builder.Build();
        var cache = host.Services.GetRequiredService<IRcCache>();
        await cache.SetAsync("k", 1);
        Assert.Equal(1, await cache.GetAsync<int>("k"));
        Assert.Same(host.Services.GetRequiredKeyedService<IConnectionMultiplexer>("sessions"), (await cache.GetRedisConnectionsAsync()).Single().Value);
    }

    [Fact]
    public async Task UseRcRedisConnection_ANamedRedisCacheWithoutAConnectionOfItsOwn_SharesIt()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddSingleton<IConnectionMultiplexer>(_ => ConnectionMultiplexer.Connect(_server.EndPoint));
        builder.Services.AddRcCache(static o =>
        {
            (o.Store, o.Namespace, o.OperationTimeout) = (RcStoreKind.Redis, "main:", Unhurried);
            o.Caches["pages"] = new RcNamedCacheOptions { Store = RcStoreKind.Redis, Namespace = "pages:" };
        }).UseRcRedisConnection();
        using var host = builder.Build();
        var pages = host.Services.GetRequiredKeyedService<IRcCache>("pages");
        await pages.SetAsync("k", "value");
        Assert.Equal("value", await pages.GetAsync<string>("k"));
        Assert.Contains("pages:k", await _server.CommandAsync("KEYS", "pages:*"), StringComparison.Ordinal);
        Assert.Same(host.Services.GetRequiredService<IConnectionMultiplexer>(), (await pages.GetRedisConnectionsAsync()).Single().Value);
    }

    [Fact]
    public async Task RedisConnectionName_ReadsTheConnectionStringAHostProvides()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration["ConnectionStrings:cache"] = _server.EndPoint;
        builder.Configuration["Rc:Store"] = "Redis";
        builder.Configuration["Rc:RedisConnectionName"] = "cache";
        builder.Configuration["Rc:Namespace"] = "named:";
        builder.Configuration["Rc:OperationTimeout"] = "00:00:10";
        builder.Services.AddRcCache(builder.Configuration.GetSection("Rc"));
        using var host = builder.Build();
        var cache = host.Services.GetRequiredService<IRcCache>();
        await cache.SetAsync("k", "value");
        Assert.Contains("named:k", await _server.CommandAsync("KEYS", "named:*"), StringComparison.Ordinal);
    }

    [Fact]
    public void RedisConnectionName_NamingNoConnectionString_StopsStartUpNamingIt()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration["Rc:Store"] = "Redis";
        builder.Configuration["Rc:RedisConnectionName"] = "absent";
        builder.Services.AddRcCache(builder.Configuration.GetSection("Rc"));
        using var host = builder.Build();
        var error = Assert.Throws<OptionsValidationException>(() => host.Services.GetRequiredService<IOptions<RcOptions>>().Value);
        Assert.Contains("Rc:RedisConnectionName: no connection string is named 'absent' (ConnectionStrings:absent).", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RedisConnectionName_NamingNoConnectionString_IsNotNeeded_WhenTheStoreIsNotRedis()
    {
        // appsettings.json names the connection string that production's host provides; a Development file sets Memory.
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration["Rc:Store"] = "Memory";
        builder.Configuration["Rc:RedisConnectionName"] = "absent";
        builder.Services.AddRcCache(builder.Configuration.GetSection("Rc"));
        using var host = builder.Build();
        var cache = host.Services.GetRequiredService<IRcCache>();
        await cache.SetAsync("k", "value");
        Assert.Equal("value", await cache.GetAsync<string>("k"));
        Assert.Null(host.Services.GetRequiredService<IOptions<RcOptions>>().Value.Redis);
    }

    [Fact]
    public void UseRcRedisConnection_ForAShardedStore_StopsStartUpNamingTheSetting()
    {
        var services = new ServiceCollection();
        services.AddRcCache(o =>
        {
            o.Store = RcStoreKind.Sharded;
            o.Shards["a"] = new RcShardOptions();
        }).UseRcRedisConnection();
        using var provider = services.BuildServiceProvider();
        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<RcOptions>>().Value);
        Assert.Contains("Rc:Store: UseRcRedisConnection() gives a Store=Redis the application's own connection; Store is Sharded.", error.Message, StringComparison.Ordinal);
    }

#if ASPIRE_CLIENT
    private static async Task<T> EventuallyAsync<T>(Func<Task<T?>> read)
        where T : struct
    {
        for (var attempt = 0; ; attempt++)
        {
            if (await read() is { } value)
            {
                return value;
            }

            Assert.True(attempt < 300, "The library's own connections never showed up.");
            await Task.Delay(100);
        }
    }

    /// <summary>The server's clients: those named by the library (its synchronous calls and its link), and the others (the multiplexer's), without this query's own.</summary>
    private async Task<(int Library, int Others)> ClientsAsync()
    {
        var lines = (await _server.CommandAsync("CLIENT", "LIST")).Split('\n').Where(static l => l.Contains("id=", StringComparison.Ordinal)).ToArray();
        var library = lines.Count(static l => l.Contains($" name={RcAspNet.Stores.Redis.RespConnection.ClientName} ", StringComparison.Ordinal));
        var own = lines.Count(static l => l.Contains("cmd=client|list", StringComparison.Ordinal));
        return (library, lines.Length - library - own);
    }
#endif
}
