using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using RcAspNet.Caching;
using RcAspNet.Stores;
using RcAspNet.Stores.Redis;

namespace RcAspNet.Tests.Configuration;

public sealed class ConfigurationTests
{
    private static IHost Build(Dictionary<string, string?> settings, Action<HostApplicationBuilder>? more = null)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddRcCache(builder.Configuration.GetSection("Rc"));
        more?.Invoke(builder);
        return builder.Build();
    }

    private static async Task<string> StartupErrorAsync(Dictionary<string, string?> settings)
    {
        using var host = Build(settings);
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        return error.Message;
    }

    [Fact]
    public void Bind_TheDocumentedSection_ReadsEverySetting()
    {
        using var host = Build(new()
        {
            ["Rc:Store"] = "Sharded",
            ["Rc:Namespace"] = "blog:",
            ["Rc:DefaultExpiration"] = "1.02:03:04",
            ["Rc:Redis"] = "127.0.0.1:6379",
            ["Rc:Router"] = "Ketama",
            ["Rc:Shards:cache01:Host"] = "127.0.0.1",
            ["Rc:Shards:cache01:Port"] = "7001",
            ["Rc:Shards:cache02:Host"] = "127.0.0.1",
            ["Rc:Shards:cache02:Port"] = "7002",
            ["Rc:Shards:cache02:Db"] = "1",
            ["Rc:Shards:cache02:Password"] = "secret",
            ["Rc:BypassValues:0"] = "null",
            ["Rc:FailureMode"] = "Throw",
            ["Rc:OperationTimeout"] = "00:00:00.250",
            ["Rc:Caches:templates:Namespace"] = "tpl:",
        });
        var options = host.Services.GetRequiredService<IOptions<RcOptions>>().Value;
        Assert.Equal(RcStoreKind.Sharded, options.Store);
        Assert.Equal("blog:", options.Namespace);
        Assert.Equal(new TimeSpan(1, 2, 3, 4), options.DefaultExpiration);
        Assert.Equal(RcRouterKind.Ketama, options.Router);
        Assert.Equal(7001, options.Shards["cache01"].Port);
        Assert.Equal(1, options.Shards["cache02"].Db);
        Assert.Equal("secret", options.Shards["cache02"].Password);
        Assert.Equal(["null"], options.BypassValues);
        Assert.Equal(RcFailureMode.Throw, options.FailureMode);
        Assert.Equal(TimeSpan.FromMilliseconds(250), options.OperationTimeout);
        Assert.Equal("tpl:", options.Caches["templates"].Namespace);
    }

    [Fact]
    public void Bind_FromEnvironmentVariables_ReadsNestedSettings()
    {
        var prefix = $"RCTEST{Guid.NewGuid():N}_";
        Environment.SetEnvironmentVariable(prefix + "Rc__Store", "Sharded");
        Environment.SetEnvironmentVariable(prefix + "Rc__Shards__cache01__Port", "7001");
        Environment.SetEnvironmentVariable(prefix + "Rc__Shards__cache01__Host", "127.0.0.1");
        try
        {
            var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
            builder.Configuration.AddEnvironmentVariables(prefix);
            builder.Services.AddRcCache(builder.Configuration);
            using var host = builder.Build();
            var options = host.Services.GetRequiredService<IOptions<RcOptions>>().Value;
            Assert.Equal(RcStoreKind.Sharded, options.Store);
            Assert.Equal(7001, options.Shards["cache01"].Port);
        }
        finally
        {
            Environment.SetEnvironmentVariable(prefix + "Rc__Store", null);
            Environment.SetEnvironmentVariable(prefix + "Rc__Shards__cache01__Port", null);
            Environment.SetEnvironmentVariable(prefix + "Rc__Shards__cache01__Host", null);
        }
    }

    [Fact]
    public async Task Start_UnknownStore_FailsNamingThePathAndWhatIsAllowed()
    {
        var message = await StartupErrorAsync(new() { ["Rc:Store"] = "Memcached" });
        Assert.Contains("Rc:Store: 'Memcached' is not allowed; use one of Memory, Redis, Sharded, Null.", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_UnknownRouter_FailsNamingThePath()
    {
        var message = await StartupErrorAsync(new() { ["Rc:Store"] = "Sharded", ["Rc:Router"] = "Modulo", ["Rc:Shards:a:Port"] = "7001" });
        Assert.Contains("Rc:Router: 'Modulo' is not allowed; use one of Crc32, Ketama.", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_ShardedWithoutShards_Fails() =>
        Assert.Contains("Rc:Shards: Store=Sharded needs at least one shard", await StartupErrorAsync(new() { ["Rc:Store"] = "Sharded" }), StringComparison.Ordinal);

    [Fact]
    public async Task Start_RedisWithoutConfiguration_Fails() =>
        Assert.Contains("Rc:Redis: Store=Redis needs", await StartupErrorAsync(new() { ["Rc:Store"] = "Redis" }), StringComparison.Ordinal);

    [Theory]
    [InlineData("0")]
    [InlineData("65536")]
    public async Task Start_PortOutOfRange_Fails(string port)
    {
        var message = await StartupErrorAsync(new() { ["Rc:Store"] = "Sharded", ["Rc:Shards:cache01:Port"] = port });
        Assert.Contains($"Rc:Shards:cache01:Port: {port} is out of range; a port is 1 to 65535.", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_NegativeExpiration_Fails() =>
        Assert.Contains("Rc:DefaultExpiration: -00:00:01 is not positive", await StartupErrorAsync(new() { ["Rc:DefaultExpiration"] = "-00:00:01" }), StringComparison.Ordinal);

    [Fact]
    public async Task Start_ValueOfTheWrongKind_FailsNamingThePath()
    {
        var message = await StartupErrorAsync(new() { ["Rc:DefaultExpiration"] = "three days", ["Rc:Store"] = "Sharded", ["Rc:Shards:a:Port"] = "seven" });
        Assert.Contains("Rc:DefaultExpiration: 'three days' is not a duration", message, StringComparison.Ordinal);
        Assert.Contains("Rc:Shards:a:Port: 'seven' is not a whole number.", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_UnknownSetting_FailsNamingIt()
    {
        var message = await StartupErrorAsync(new() { ["Rc:Stor"] = "Redis" });
        Assert.Contains("Rc:Stor: 'Stor' is not a setting here", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_SeveralWrongSettings_AreReportedInOneMessage()
    {
        var message = await StartupErrorAsync(new()
        {
            ["Rc:Store"] = "Sharded",
            ["Rc:Shards:a:Port"] = "70000",
            ["Rc:Shards:b:Db"] = "-1",
            ["Rc:OperationTimeout"] = "00:00:00",
            ["Rc:BypassValues:0"] = "{not json",
        });
        Assert.Contains("Rc:Shards:a:Port", message, StringComparison.Ordinal);
        Assert.Contains("Rc:Shards:b:Db", message, StringComparison.Ordinal);
        Assert.Contains("Rc:OperationTimeout", message, StringComparison.Ordinal);
        Assert.Contains("Rc:BypassValues:0", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_KetamaShardsOnOneServer_Fails()
    {
        var message = await StartupErrorAsync(new()
        {
            ["Rc:Store"] = "Sharded",
            ["Rc:Router"] = "Ketama",
            ["Rc:Shards:a:Port"] = "7001",
            ["Rc:Shards:b:Port"] = "7001",
        });
        Assert.Contains("a and b have the same host, port and db", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_WithRedisDown_SucceedsAndReadsMiss()
    {
        using var host = Build(new() { ["Rc:Store"] = "Redis", ["Rc:Redis"] = "127.0.0.1:1,connectTimeout=200", ["Rc:OperationTimeout"] = "00:00:00.300" });
        await host.StartAsync();
        var cache = host.Services.GetRequiredService<IDistributedCache>();
        Assert.Null(await cache.GetAsync("anything"));
        await cache.SetAsync("anything", [1], new DistributedCacheEntryOptions());
        await host.StopAsync();
    }

    [Fact]
    public void AddRcCache_ReplacesAnEarlierDistributedCache()
    {
        using var services = new ServiceCollection().AddDistributedMemoryCache().AddRcCache(o => o.Namespace = "x:").BuildServiceProvider();
        Assert.IsType<RcDistributedCache>(services.GetRequiredService<IDistributedCache>());
        Assert.Same(services.GetRequiredService<IDistributedCache>(), services.GetRequiredService<IBufferDistributedCache>());
    }

    [Fact]
    public void AddRcCache_ConfigurationRoot_UsesItsRcSection()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Rc:Namespace"] = "root:" }).Build();
        using var services = new ServiceCollection().AddRcCache(configuration).BuildServiceProvider();
        Assert.Equal("root:", services.GetRequiredService<IOptions<RcOptions>>().Value.Namespace);
    }

    [Fact]
    public void AddRcCache_NullArguments_AreArgumentNullExceptions()
    {
        Assert.Equal("services", Assert.Throws<ArgumentNullException>(() => RcServiceCollectionExtensions.AddRcCache(null!, o => { })).ParamName);
        Assert.Equal("configure", Assert.Throws<ArgumentNullException>(() => new ServiceCollection().AddRcCache((Action<RcOptions>)null!)).ParamName);
        Assert.Equal("configuration", Assert.Throws<ArgumentNullException>(() => new ServiceCollection().AddRcCache((IConfiguration)null!)).ParamName);
    }

    [Theory]
    [InlineData("Memory", typeof(MemoryStore))]
    [InlineData("Null", typeof(NullStore))]
    [InlineData("Redis", typeof(RedisStore))]
    [InlineData("Sharded", typeof(ShardedStore))]
    public void Store_IsTheOneConfigured(string store, Type expected)
    {
        using var host = Build(new() { ["Rc:Store"] = store, ["Rc:Redis"] = "127.0.0.1:1", ["Rc:Shards:a:Port"] = "1" });
        Assert.IsType(expected, host.Services.GetRequiredService<CacheRegistry>().Stores[0]);
    }
}
