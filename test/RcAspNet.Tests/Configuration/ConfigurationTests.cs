using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RcAspNet.Caching;
using RcAspNet.Stores;
using RcAspNet.Stores.Redis;
using RcAspNet.Tests.Infrastructure;

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
    public void Bind_ShardCredentialsAndTls_AreRead()
    {
        // The authority's file must hold a certificate: the validator reads it.
        var authority = Path.GetTempFileName();
        using (var key = ECDsa.Create())
        using (var certificate = new CertificateRequest("CN=Private CA", key, HashAlgorithmName.SHA256).CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1)))
        {
            File.WriteAllText(authority, certificate.ExportCertificatePem());
        }

        using var host = Build(new()
        {
            ["Rc:Store"] = "Sharded",
            ["Rc:SslCaFile"] = authority,
            ["Rc:Shards:cache01:Host"] = "10.0.0.5",
            ["Rc:Shards:cache01:User"] = "app",
            ["Rc:Shards:cache01:Password"] = "secret",
            ["Rc:Shards:cache01:Ssl"] = "true",
            ["Rc:Shards:cache01:SslHost"] = "cache01.redis.example",
        });
        var options = host.Services.GetRequiredService<IOptions<RcOptions>>().Value;
        File.Delete(authority);
        Assert.Equal(authority, options.SslCaFile);
        var shard = options.Shards["cache01"];
        Assert.Equal(("app", "secret", true, "cache01.redis.example"), (shard.User, shard.Password, shard.Ssl, shard.SslHost));
    }

    [Fact]
    public void ShardConfiguration_CarriesUserPasswordAndTlsHost_ToBothClients()
    {
        var configuration = StoreFactory.Configuration(new RcShardOptions { Host = "10.0.0.5", Port = 6380, Db = 2, User = "app", Password = "secret", Ssl = true, SslHost = "cache01.redis.example" });
        Assert.Equal(("app", "secret", true, "cache01.redis.example", 2), (configuration.User, configuration.Password, configuration.Ssl, configuration.SslHost, configuration.DefaultDatabase));

        // The library's own connections (synchronous calls, the link per server) read the same configuration.
        var settings = RespSettings.From(configuration, null);
        Assert.Equal(("app", "secret", 2, true, "cache01.redis.example"), (settings.User, settings.Password, settings.Database, settings.Ssl, settings.SslHost));
        Assert.Null(settings.CertificateValidation);
        Assert.DoesNotContain("secret", settings.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void RedisConfigurationString_CarriesUserPasswordAndTlsHost_ToTheLibrarysOwnConnections()
    {
        var settings = RespSettings.From(StackExchange.Redis.ConfigurationOptions.Parse("10.0.0.5:6380,user=app,password=secret,ssl=true,sslHost=redis.example"), null);
        Assert.Equal(("app", "secret", true, "redis.example"), (settings.User, settings.Password, settings.Ssl, settings.SslHost));
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
    public async Task Start_BadLoadingSettings_FailNamingEachPath()
    {
        var message = await StartupErrorAsync(new()
        {
            ["Rc:FailSafe:MaxDuration"] = "00:00:00",
            ["Rc:FailSafe:ThrottleDuration"] = "-00:00:01",
            ["Rc:FactorySoftTimeout"] = "00:00:02",
            ["Rc:FactoryHardTimeout"] = "00:00:01",
            ["Rc:EagerRefreshThreshold"] = "1.5",
            ["Rc:StampedeProtection"] = "Cluster",
            ["Rc:Caches:posts:EagerRefreshThreshold"] = "0",
            ["Rc:Caches:posts:FactoryHardTimeout"] = "-00:00:01",
        });
        Assert.Contains("Rc:FailSafe:MaxDuration: 00:00:00 is not positive", message, StringComparison.Ordinal);
        Assert.Contains("Rc:FailSafe:ThrottleDuration: -00:00:01 is not positive", message, StringComparison.Ordinal);
        Assert.Contains("Rc:FactorySoftTimeout: 00:00:02 is not shorter than Rc:FactoryHardTimeout (00:00:01)", message, StringComparison.Ordinal);
        Assert.Contains("Rc:EagerRefreshThreshold: 1.5 is not between 0 and 1", message, StringComparison.Ordinal);
        Assert.Contains("Rc:StampedeProtection: 'Cluster' is not allowed; use one of Process, Fleet.", message, StringComparison.Ordinal);
        Assert.Contains("Rc:Caches:posts:EagerRefreshThreshold: 0 is not between 0 and 1", message, StringComparison.Ordinal);
        Assert.Contains("Rc:Caches:posts:FactoryHardTimeout: -00:00:01 is not positive", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_ANamedRedisCacheWithoutAConnection_NamesWhatItCanBeGiven()
    {
        var message = await StartupErrorAsync(new() { ["Rc:Caches:pages:Store"] = "Redis" });
        Assert.Contains("Rc:Caches:pages:Redis: Store=Redis needs a StackExchange.Redis configuration string, such as 127.0.0.1:6379, or UseRcRedisConnection() to share the application's connection.", message, StringComparison.Ordinal);
        Assert.DoesNotContain("Caches:pages:RedisConnectionName", message, StringComparison.Ordinal); // a named cache has none
    }

    [Fact]
    public async Task Start_AThresholdThatIsNotANumber_FailsNamingThePath() =>
        Assert.Contains("Rc:EagerRefreshThreshold: 'most' is not a number; write it with a dot, such as 0.8.", await StartupErrorAsync(new() { ["Rc:EagerRefreshThreshold"] = "most" }), StringComparison.Ordinal);

    [Fact]
    public void Bind_LoadingSettings_AreRead()
    {
        using var host = Build(new()
        {
            ["Rc:FailSafe:MaxDuration"] = "01:00:00",
            ["Rc:FailSafe:ThrottleDuration"] = "00:00:10",
            ["Rc:FactorySoftTimeout"] = "00:00:00.100",
            ["Rc:FactoryHardTimeout"] = "00:00:02",
            ["Rc:EagerRefreshThreshold"] = "0.8",
            ["Rc:StampedeProtection"] = "Fleet",
            ["Rc:Caches:posts:FailSafe:MaxDuration"] = "00:05:00",
            ["Rc:Caches:posts:StampedeProtection"] = "Process",
        });
        var options = host.Services.GetRequiredService<IOptions<RcOptions>>().Value;
        Assert.Equal((TimeSpan.FromHours(1), TimeSpan.FromSeconds(10)), (options.FailSafe.MaxDuration, options.FailSafe.ThrottleDuration));
        Assert.Equal((TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(2), 0.8, RcStampedeProtection.Fleet), (options.FactorySoftTimeout, options.FactoryHardTimeout, options.EagerRefreshThreshold, options.StampedeProtection));
        Assert.Equal((TimeSpan.FromMinutes(5), RcStampedeProtection.Process), (options.Caches["posts"].FailSafe!.MaxDuration, options.Caches["posts"].StampedeProtection));
    }

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
    public async Task Start_ShardUserWithoutPassword_FailsNamingThePassword() =>
        Assert.Contains(
            "Rc:Shards:cache01:Password: Rc:Shards:cache01:User is set, so the user's password is needed too.",
            await StartupErrorAsync(new() { ["Rc:Store"] = "Sharded", ["Rc:Shards:cache01:User"] = "app" }),
            StringComparison.Ordinal);

    [Fact]
    public async Task Start_SslHostWithoutSsl_Fails() =>
        Assert.Contains(
            "Rc:Shards:cache01:SslHost: applies only to a TLS connection; set Rc:Shards:cache01:Ssl=true, or remove SslHost.",
            await StartupErrorAsync(new() { ["Rc:Store"] = "Sharded", ["Rc:Shards:cache01:SslHost"] = "cache01.redis.example" }),
            StringComparison.Ordinal);

    [Fact]
    public async Task Start_SslCaFileThatIsNotACertificate_Fails()
    {
        var missing = Path.Combine(Path.GetTempPath(), $"rc-missing-{Guid.NewGuid():N}.crt");
        var garbage = Path.GetTempFileName();
        await File.WriteAllTextAsync(garbage, "not a certificate");
        try
        {
            Assert.Contains($"Rc:SslCaFile: '{missing}' cannot be read as a certificate, PEM or DER", await StartupErrorAsync(new() { ["Rc:SslCaFile"] = missing }), StringComparison.Ordinal);
            Assert.Contains($"Rc:SslCaFile: '{garbage}' cannot be read as a certificate, PEM or DER", await StartupErrorAsync(new() { ["Rc:SslCaFile"] = garbage }), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(garbage);
        }
    }

    [Fact]
    public async Task Start_WrongShardSettings_NeverEchoThePassword()
    {
        var message = await StartupErrorAsync(new()
        {
            ["Rc:Store"] = "Sharded",
            ["Rc:Shards:cache01:Password"] = "hunter2-secret",
            ["Rc:Shards:cache01:Port"] = "70000",
            ["Rc:Shards:cache01:SslHost"] = "cache01.redis.example",
            ["Rc:Shards:cache01:Passwrd"] = "hunter2-secret",
        });
        Assert.Contains("Rc:Shards:cache01:Passwrd: 'Passwrd' is not a setting here", message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2-secret", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_Crc32ShardNamesOfOneNumber_Fails()
    {
        var message = await StartupErrorAsync(new()
        {
            ["Rc:Store"] = "Sharded",
            ["Rc:Shards:1:Port"] = "7001",
            ["Rc:Shards:01:Port"] = "7002",
        });
        Assert.Matches("Rc:Shards: Shard names (1 and 01|01 and 1) are one number", message); // configuration sorts the keys by number: either may come first
    }

    /// <summary>
    /// A router of the application's routes every sharded store, the default cache's and a named cache's: the CRC32
    /// router's rule on names does not apply. The router is made from the options, so their check must not make it.
    /// </summary>
    [Theory]
    [InlineData("Rc")]
    [InlineData("Rc:Caches:pages")]
    public void Bind_ShardNamesOfOneNumber_WithARouterOfTheApplications_AreValid(string path)
    {
        using var host = Build(
            new()
            {
                [$"{path}:Store"] = "Sharded",
                [$"{path}:Shards:1:Port"] = "7001",
                [$"{path}:Shards:01:Port"] = "7002",
            },
            b => b.Services.AddSingleton<IRcRouter>(static sp => new FirstShardRouter([.. Shards(sp.GetRequiredService<IOptions<RcOptions>>().Value)])));
        Assert.NotNull(host.Services.GetRequiredService<IOptions<RcOptions>>().Value);
        Assert.Equal(2, host.Services.GetRequiredService<IRcRouter>().Shards.Count); // made from the options, after their check

        static IEnumerable<string> Shards(RcOptions options) => options.Shards.Count > 0 ? options.Shards.Keys : options.Caches.Values.SelectMany(static c => c.Shards.Keys);
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
    public void Bind_AnEmptyShardOrCacheInJson_IsKeptWithItsDefaults()
    {
        // rc's CacheCluster({'cache01': {}, 'cache02': {'port': 6380}}) has two hosts, the first with redis-py's defaults;
        // IConfiguration gives an empty JSON object no value and no children, which the binder alone would drop, and
        // with it a shard, so that this app would route keys unlike the Python app that shares its servers.
        const string json = """
            {
              "Rc": {
                "Store": "Sharded",
                "Shards": { "cache01": {}, "cache02": { "Port": 6380 } },
                "Caches": { "pages": {}, "posts": { "Store": "Sharded", "Shards": { "a": {} } } }
              }
            }
            """;
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddJsonStream(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(json)));
        builder.Services.AddRcCache(builder.Configuration.GetSection("Rc"));
        using var host = builder.Build();
        var options = host.Services.GetRequiredService<IOptions<RcOptions>>().Value;

        Assert.Equal(["cache01", "cache02"], options.Shards.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(("localhost", 6379, 0), (options.Shards["cache01"].Host, options.Shards["cache01"].Port, options.Shards["cache01"].Db));
        Assert.Equal(6380, options.Shards["cache02"].Port);
        Assert.Equal(["pages", "posts"], options.Caches.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(6379, options.Caches["posts"].Shards["a"].Port);
    }

    [Fact]
    public void Bind_AnEmptyValue_UnsetsANullableSettingAnotherSourceSet()
    {
        // appsettings.json turns fail-safe and a hard timeout on; an environment turns them off with empty variables
        // (Rc__FailSafe__MaxDuration=), as it would for any nullable setting.
        const string json = """
            {
              "Rc": {
                "FailSafe": { "MaxDuration": "01:00:00" },
                "FactoryHardTimeout": "00:00:02",
                "Caches": { "posts": { "DefaultExpiration": "00:10:00", "StampedeProtection": "Fleet" } }
              }
            }
            """;
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddJsonStream(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(json)));
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Rc:FailSafe:MaxDuration"] = "",
            ["Rc:FactoryHardTimeout"] = "",
            ["Rc:Caches:posts:DefaultExpiration"] = "",
            ["Rc:Caches:posts:StampedeProtection"] = "",
        });
        builder.Services.AddRcCache(builder.Configuration.GetSection("Rc"));
        using var host = builder.Build();
        var options = host.Services.GetRequiredService<IOptions<RcOptions>>().Value;

        Assert.Empty(options.BindingErrors);
        Assert.Null(options.FailSafe.MaxDuration);
        Assert.Null(options.FactoryHardTimeout);
        Assert.Null(options.Caches["posts"].DefaultExpiration);
        Assert.Null(options.Caches["posts"].StampedeProtection);
    }

    [Fact]
    public async Task Start_AnEmptyValue_OfASettingThatCannotBeUnset_FailsNamingIt() =>
        Assert.Contains("Rc:OperationTimeout: '' is not a duration", await StartupErrorAsync(new() { ["Rc:OperationTimeout"] = "" }), StringComparison.Ordinal);

    [Fact]
    public void Bind_ANamedCachesEmptyBypassValuesOrFailSafe_IsSet_NotTheDefaultCaches()
    {
        // "BypassValues": [] means none, and "FailSafe": {} every default (fail-safe off); IConfiguration gives both no value and no
        // children, which the binder alone would leave unset, so that the named cache took the default cache's.
        const string json = """
            {
              "Rc": {
                "BypassValues": [ "null" ],
                "FailSafe": { "MaxDuration": "01:00:00", "ThrottleDuration": "00:00:05" },
                "Caches": { "pages": { "BypassValues": [], "FailSafe": {} }, "posts": {} }
              }
            }
            """;
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddJsonStream(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(json)));
        builder.Services.AddRcCache(builder.Configuration.GetSection("Rc"));
        using var host = builder.Build();
        var options = host.Services.GetRequiredService<IOptions<RcOptions>>().Value;

        Assert.Equal(["null"], options.BypassValues);
        Assert.Equal(TimeSpan.FromHours(1), options.FailSafe.MaxDuration);
        Assert.NotNull(options.Caches["pages"].BypassValues);
        Assert.Empty(options.Caches["pages"].BypassValues!);
        Assert.NotNull(options.Caches["pages"].FailSafe);
        Assert.Null(options.Caches["pages"].FailSafe!.MaxDuration);
        Assert.Equal(new RcFailSafeOptions().ThrottleDuration, options.Caches["pages"].FailSafe!.ThrottleDuration);
        Assert.Null(options.Caches["posts"].BypassValues);
        Assert.Null(options.Caches["posts"].FailSafe);
    }

    [Theory]
    [InlineData("""{ "Rc": { "Store": "Sharded", "Shards": { "cache01": { "Pasword": null }, "cache02": {} } } }""", "Rc:Shards:cache01:Pasword: 'Pasword' is not a setting here")]
    [InlineData("""{ "Rc": { "Caches": { "posts": { "Store": "Sharded", "Shard": { "a": {} } } } } }""", "Rc:Caches:posts:Shard:a: 'Shard' is not a setting here")]
    [InlineData("""{ "Rc": { "Store": "Sharded", "Shards": { "cache01": { "Host": { "Length": {} } } } } }""", "Rc:Shards:cache01:Host:Length: 'Length' is not a setting here: Host takes a value, not a section.")]
    [InlineData("""{ "Rc": { "Namespace": { "Chars": {} } } }""", "Rc:Namespace:Chars: 'Chars' is not a setting here: Namespace takes a value, not a section.")]
    [InlineData("""{ "Rc": { "Caches": { "posts": { "Store": { "HasValue": null } } } } }""", "Rc:Caches:posts:Store:HasValue: 'HasValue' is not a setting here: Store takes a value, not a section.")]
    public async Task Start_AnEmptySectionUnderAName_ThatIsNoSetting_FailsNamingIt(string json, string expected)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddJsonStream(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(json)));
        builder.Services.AddRcCache(builder.Configuration.GetSection("Rc"));
        using var host = builder.Build();
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_SentinelConfiguration_FailsNamingWhatToList()
    {
        var message = await StartupErrorAsync(new() { ["Rc:Store"] = "Redis", ["Rc:Redis"] = "127.0.0.1:26379,serviceName=mymaster" });
        Assert.Contains("Rc:Redis: Sentinel (serviceName) is not supported: name the primary, or a cluster's nodes.", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connect_ToSeveralServersThatAreNoCluster_WarnsThatTheFirstIsFollowed()
    {
        await using var first = await RedisServer.StartAsync();
        await using var second = await RedisServer.StartAsync();
        var logs = new LogRecorder();
        await using var services = TestServices.Build(
            o => (o.Store, o.Redis) = (RcStoreKind.Redis, $"127.0.0.1:{first.Port},127.0.0.1:{second.Port}"),
            s => s.AddLogging(l => l.AddProvider(logs)));
        var cache = services.GetRequiredService<IDistributedCache>();
        await cache.SetStringAsync("k", "v");
        var warning = Assert.Single(logs.Records, static r => r.Id.Name == "RcSeveralServers");
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Warning, warning.Level);
        Assert.Contains($"lists 2 servers that are not a cluster", warning.Message, StringComparison.Ordinal);
        Assert.Contains($"127.0.0.1:{first.Port}", warning.Message, StringComparison.Ordinal);
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

    /// <summary>A router of the application's: every key on its first shard.</summary>
    private sealed class FirstShardRouter(IReadOnlyList<string> shards) : IRcRouter
    {
        public IReadOnlyList<string> Shards => shards;

        public int GetShard(string key) => 0;
    }
}
