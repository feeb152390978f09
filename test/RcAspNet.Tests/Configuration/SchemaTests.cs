using System.Collections;
using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Xml.Linq;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using NJsonSchema;
using NJsonSchema.Validation;
using RcAspNet.Configuration;

namespace RcAspNet.Tests.Configuration;

/// <summary>appsettings.schema.json, the options classes and their XML docs say the same thing.</summary>
public sealed class SchemaTests
{
    private static readonly JsonElement Schema = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Data", "appsettings.schema.json"))).RootElement;
    private static readonly XDocument Docs = XDocument.Load(Path.Combine(AppContext.BaseDirectory, "RcAspNet.xml"));

    public static TheoryData<string, Type> Definitions => new()
    {
        { "Rc", typeof(RcOptions) },
        { "shard", typeof(RcShardOptions) },
        { "namedCache", typeof(RcNamedCacheOptions) },
        { "nearCache", typeof(RcNearCacheOptions) },
        { "failSafe", typeof(RcFailSafeOptions) },
    };

    private static JsonElement Definition(string name) => Schema.GetProperty("definitions").GetProperty(name);

    [Theory]
    [MemberData(nameof(Definitions))]
    public void Schema_ListsExactlyTheSettingsOfTheOptionsClass(string definition, Type type)
    {
        var inSchema = Definition(definition).GetProperty("properties").EnumerateObject().Select(static p => p.Name).Order().ToArray();
        var inClass = RcOptionsBinder.Settings(type).Select(static p => p.Name).Order().ToArray();
        Assert.Equal(inClass, inSchema);
        Assert.False(Definition(definition).GetProperty("additionalProperties").GetBoolean());
    }

    [Theory]
    [MemberData(nameof(Definitions))]
    public void Schema_DescribesEverySetting(string definition, Type type)
    {
        _ = type;
        foreach (var property in Definition(definition).GetProperty("properties").EnumerateObject())
        {
            Assert.True(Described(property.Value), $"{definition}.{property.Name} has no description.");
        }
    }

    public static TheoryData<Type, string> Enums => new()
    {
        { typeof(RcStoreKind), "/definitions/store" },
        { typeof(RcRouterKind), "/definitions/router" },
        { typeof(RcStampedeProtection), "/definitions/stampedeProtection" },
        { typeof(RcFailureMode), "/definitions/Rc/properties/FailureMode" },
    };

    [Theory]
    [MemberData(nameof(Enums))]
    public void Schema_ListsExactlyTheValuesOfEachEnum(Type type, string pointer)
    {
        var at = pointer.Split('/', StringSplitOptions.RemoveEmptyEntries).Aggregate(Schema, static (e, name) => e.GetProperty(name));
        var listed = at.GetProperty("anyOf").EnumerateArray().Single(static a => a.TryGetProperty("enum", out _)).GetProperty("enum")
            .EnumerateArray().Select(static v => v.GetString()).ToArray();
        Assert.Equal(Enum.GetNames(type), listed);
    }

    [Fact]
    public void Schema_PutsNoKeywordBesideARef()
    {
        // Draft-07 ignores every keyword beside "$ref": a description or default there is never seen.
        var misplaced = Objects(Schema).Where(static o => o.TryGetProperty("$ref", out _) && o.EnumerateObject().Count() > 1).Select(static o => o.ToString());
        Assert.Empty(misplaced);
    }

    [Theory]
    [MemberData(nameof(Definitions))]
    public void Schema_BoundsEveryWholeNumberByItsType(string definition, Type type)
    {
        foreach (var property in RcOptionsBinder.Settings(type).Where(static p => p.PropertyType == typeof(int) || p.PropertyType == typeof(long)))
        {
            var schema = Definition(definition).GetProperty("properties").GetProperty(property.Name);
            var largest = property.PropertyType == typeof(int) ? int.MaxValue : long.MaxValue;
            Assert.Equal("integer", schema.GetProperty("type").GetString());
            Assert.True(schema.TryGetProperty("minimum", out _), $"{definition}.{property.Name} has no minimum.");
            Assert.True(schema.TryGetProperty("maximum", out var maximum) && maximum.GetInt64() <= largest, $"{definition}.{property.Name} has no maximum within {property.PropertyType.Name}.");
        }
    }

    [Theory]
    [InlineData("Rc", typeof(RcOptions))]
    [InlineData("shard", typeof(RcShardOptions))]
    [InlineData("nearCache", typeof(RcNearCacheOptions))]
    [InlineData("failSafe", typeof(RcFailSafeOptions))]
    public void SchemaDefaults_AreTheDefaultsOfTheOptionsClass(string definition, Type type)
    {
        var instance = Activator.CreateInstance(type)!;
        foreach (var property in RcOptionsBinder.Settings(type).Where(static p => p.CanWrite && p.PropertyType != typeof(RcNearCacheOptions)))
        {
            var schema = Definition(definition).GetProperty("properties").GetProperty(property.Name);
            Assert.True(schema.TryGetProperty("default", out var expected), $"{definition}.{property.Name} has no default in the schema.");
            Assert.Equal(Convert(expected, property.PropertyType), property.GetValue(instance));
        }
    }

    [Theory]
    [InlineData(typeof(RcOptions))]
    [InlineData(typeof(RcShardOptions))]
    [InlineData(typeof(RcNamedCacheOptions))]
    [InlineData(typeof(RcNearCacheOptions))]
    [InlineData(typeof(RcFailSafeOptions))]
    public void XmlDocs_StateTheDefaultOfEverySetting(Type type)
    {
        var instance = Activator.CreateInstance(type)!;
        foreach (var property in RcOptionsBinder.Settings(type))
        {
            var member = Docs.Descendants("member").Single(m => (string?)m.Attribute("name") == $"P:{type.FullName}.{property.Name}");
            var value = member.Element("value")?.ToString(SaveOptions.DisableFormatting);
            Assert.True(value is not null && value.Contains("The default is", StringComparison.Ordinal), $"{type.Name}.{property.Name} documents no default.");
            if (type != typeof(RcNamedCacheOptions))
            {
                Assert.Contains(Words(property.GetValue(instance)), value, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public async Task Schema_UsesOnlyKeywordsTheValidatorEnforces()
    {
        // NJsonSchema keeps the keywords it does not know as extension data and ignores them when it validates.
        // "$id" is one of them (it reads only draft-04's "id"); it only names the schema, so it may stay.
        var unknown = All(await LoadSchemaAsync()).SelectMany(static s => s.ExtensionData?.Keys ?? []).Distinct().Where(static k => k != "$id");
        Assert.Empty(unknown);
    }

    [Fact]
    public async Task Validator_RejectsWrongSettings()
    {
        var errors = (await LoadSchemaAsync()).Validate("""
            { "Rc": { "Store": "Memcached", "Stor": 1, "OperationTimeout": "fast", "Shards": { "a": { "Port": 70000 } } } }
            """);
        Assert.Equal(
            [
                "NoAdditionalPropertiesAllowed: #/Rc.Stor",
                "NotInEnumeration: #/Rc.Store",
                "NumberTooBig: #/Rc.Shards.a.Port",
                "PatternMismatch: #/Rc.OperationTimeout",
                "PatternMismatch: #/Rc.Store", // refused in any case too (start-up takes "redis" as Redis)
            ],
            Leaves(errors).Select(static e => $"{e.Kind}: {e.Path}").Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("""{ "Rc": { "OperationTimeout": "-00:00:01" } }""", "PatternMismatch: #/Rc.OperationTimeout", "Rc:OperationTimeout: -00:00:01 is not positive")]
    [InlineData("""{ "Rc": { "OperationTimeout": "00:00:00" } }""", "PatternMismatch: #/Rc.OperationTimeout", "Rc:OperationTimeout: 00:00:00 is not positive")]
    [InlineData("""{ "Rc": { "FailSafe": { "MaxDuration": "0.00:00:00.0000000" } } }""", "PatternMismatch: #/Rc.FailSafe.MaxDuration", "Rc:FailSafe:MaxDuration: 00:00:00 is not positive")]
    [InlineData("""{ "Rc": { "DefaultExpiration": "1.24:00:00" } }""", "PatternMismatch: #/Rc.DefaultExpiration", "Rc:DefaultExpiration: '1.24:00:00' is not a duration")]
    [InlineData("""{ "Rc": { "DefaultExpiration": "00:60:00" } }""", "PatternMismatch: #/Rc.DefaultExpiration", "Rc:DefaultExpiration: '00:60:00' is not a duration")]
    [InlineData("""{ "Rc": { "Caches": { "posts": { "FactoryHardTimeout": "00:00:60" } } } }""", "PatternMismatch: #/Rc.Caches.posts.FactoryHardTimeout", "Rc:Caches:posts:FactoryHardTimeout: '00:00:60' is not a duration")]
    [InlineData("""{ "Rc": { "OperationTimeout": "250" } }""", "PatternMismatch: #/Rc.OperationTimeout", "Rc:OperationTimeout: '250' is not a duration")]
    [InlineData("""{ "Rc": { "DefaultExpiration": "24:00:00" } }""", "PatternMismatch: #/Rc.DefaultExpiration", "Rc:DefaultExpiration: '24:00:00' is not a duration")]
    [InlineData("""{ "Rc": { "CircuitBreakDuration": "49.00:00:00" } }""", "PatternMismatch: #/Rc.CircuitBreakDuration", "Rc:CircuitBreakDuration: 49.00:00:00 is too long")]
    [InlineData("""{ "Rc": { "OperationTimeout": "100.00:00:00" } }""", "PatternMismatch: #/Rc.OperationTimeout", "Rc:OperationTimeout: 100.00:00:00 is too long")]
    [InlineData("""{ "Rc": { "Store": "Sharded", "Shards": { "cache01": { "Db": 2147483648 } } } }""", "NumberTooBig: #/Rc.Shards.cache01.Db", "Rc:Shards:cache01:Db: '2147483648' is not a whole number")]
    [InlineData("""{ "Rc": { "MaximumValueSize": 2147483648 } }""", "NumberTooBig: #/Rc.MaximumValueSize", "Rc:MaximumValueSize: '2147483648' is not a whole number")]
    [InlineData("""{ "Rc": { "BatchConcurrency": 0 } }""", "NumberTooSmall: #/Rc.BatchConcurrency", "Rc:BatchConcurrency: 0 must be at least 1")]
    [InlineData("""{ "Rc": { "CacheStatusHeader": "X Cache" } }""", "PatternMismatch: #/Rc.CacheStatusHeader", "Rc:CacheStatusHeader: 'X Cache' is not a valid header name")]
    [InlineData("""{ "Rc": { "CacheStatusHeader": "X:Cache" } }""", "PatternMismatch: #/Rc.CacheStatusHeader", "Rc:CacheStatusHeader: 'X:Cache' is not a valid header name")]
    [InlineData("""{ "Rc": { "CacheStatusHeader": "X-Cäche" } }""", "PatternMismatch: #/Rc.CacheStatusHeader", "Rc:CacheStatusHeader: 'X-Cäche' is not a valid header name")]
    [InlineData("""{ "Rc": { "CacheStatusHeader": "X-Cache(v2)" } }""", "PatternMismatch: #/Rc.CacheStatusHeader", "Rc:CacheStatusHeader: 'X-Cache(v2)' is not a valid header name")]
    [InlineData("""{ "Rc": { "Store": "Sharded", "Shards": { "cache01": { "UnixSocketPath": "redis.sock" } } } }""", "PatternMismatch: #/Rc.Shards.cache01.UnixSocketPath", "Rc:Shards:cache01:UnixSocketPath: 'redis.sock' is not an absolute path")]
    [InlineData("""{ "Rc": { "Store": "Redis", "Redis": "localhost:6379", "RedisConnectionName": "cache" }, "ConnectionStrings": { "cache": "localhost:6379" } }""", "ExcludedSchemaValidates: #/Rc", "Rc:RedisConnectionName: set either it or Rc:Redis, not both")]
    [InlineData("""{ "Rc": { "RedisConnectionName": "" } }""", "StringTooShort: #/Rc.RedisConnectionName", "Rc:RedisConnectionName: no connection string is named ''")]
    [InlineData("""{ "Rc": { "Store": "Sharded" } }""", "PropertyRequired: #/Rc.Shards", "Rc:Shards: Store=Sharded needs at least one shard")]
    [InlineData("""{ "Rc": { "Store": "Sharded", "Shards": {} } }""", "TooFewProperties: #/Rc.Shards", "Rc:Shards: Store=Sharded needs at least one shard")]
    [InlineData("""{ "Rc": { "Caches": { "posts": { "Store": "Sharded" } } } }""", "PropertyRequired: #/Rc.Caches.posts.Shards", "Rc:Caches:posts:Shards: Store=Sharded needs at least one shard")]
    [InlineData("""{ "Rc": { "Store": "Sharded", "Shards": { "cache01": { "Host": " " } } } }""", "PatternMismatch: #/Rc.Shards.cache01.Host", "Rc:Shards:cache01:Host: must not be empty")]
    [InlineData("""{ "Rc": { "Store": "Sharded", "Shards": { "cache01": { "Host": "10.0.0.5:6380" } } } }""", "PatternMismatch: #/Rc.Shards.cache01.Host", "Rc:Shards:cache01:Host: '10.0.0.5:6380' is not a host name or address; give its port in Rc:Shards:cache01:Port, and no scheme or path.")]
    [InlineData("""{ "Rc": { "Store": "Sharded", "Shards": { "cache01": { "Host": "redis.example:6380" } } } }""", "PatternMismatch: #/Rc.Shards.cache01.Host", "Rc:Shards:cache01:Host: 'redis.example:6380' is not a host name or address")]
    [InlineData("""{ "Rc": { "Store": "Sharded", "Shards": { "cache01": { "Host": "[::1]:6380" } } } }""", "PatternMismatch: #/Rc.Shards.cache01.Host", "Rc:Shards:cache01:Host: '[::1]:6380' is not a host name or address")]
    [InlineData("""{ "Rc": { "Store": "Sharded", "Shards": { "cache01": { "Host": "redis://redis.example" } } } }""", "PatternMismatch: #/Rc.Shards.cache01.Host", "Rc:Shards:cache01:Host: 'redis://redis.example' is not a host name or address")]
    [InlineData("""{ "Rc": { "Store": "Sharded", "Shards": { "cache01": { "Host": "[::1]" } } } }""", "PatternMismatch: #/Rc.Shards.cache01.Host", "Rc:Shards:cache01:Host: '[::1]' is not a host name or address")]
    [InlineData("""{ "Rc": { "Store": "Sharded", "Shards": { "cache01": { "Host": "fe80::1%eth0:6380" } } } }""", "PatternMismatch: #/Rc.Shards.cache01.Host", "Rc:Shards:cache01:Host: 'fe80::1%eth0:6380' is not a host name or address")]
    [InlineData("""{ "Rc": { "Store": "Sharded", "Shards": { "cache01": { "Host": "redis\nexample" } } } }""", "PatternMismatch: #/Rc.Shards.cache01.Host", "is not a host name or address")]
    [InlineData("""{ "Rc": { "Store": "Sharded", "Shards": { "cache01": { "Host": "redis example" } } } }""", "PatternMismatch: #/Rc.Shards.cache01.Host", "Rc:Shards:cache01:Host: 'redis example' is not a host name or address")]
    [InlineData("""{ "Rc": { "Shards": { "cache01": { "Port": 0 } } } }""", "NumberTooSmall: #/Rc.Shards.cache01.Port", "Rc:Shards:cache01:Port: 0 is out of range")]
    [InlineData("""{ "Rc": { "Store": "Redis", "Redis": "localhost:6379", "Shards": { "cache01": { "User": "app" } } } }""", "PropertyRequired: #/Rc.Shards.cache01.Password", "Rc:Shards:cache01:Password: Rc:Shards:cache01:User is set")]
    [InlineData("""{ "Rc": { "Caches": { "posts": { "Store": "Memory", "Shards": { "cache01": { "UnixSocketPath": "redis.sock" } } } } } }""", "PatternMismatch: #/Rc.Caches.posts.Shards.cache01.UnixSocketPath", "Rc:Caches:posts:Shards:cache01:UnixSocketPath: 'redis.sock' is not an absolute path")]
    [InlineData("""{ "Rc": { "Store": "Sharded", "Shards": { "cache01": { "User": "app" } } } }""", "PropertyRequired: #/Rc.Shards.cache01.Password", "Rc:Shards:cache01:Password: Rc:Shards:cache01:User is set")]
    [InlineData("""{ "Rc": { "Store": "Sharded", "Shards": { "cache01": { "User": "app", "Password": "" } } } }""", "StringTooShort: #/Rc.Shards.cache01.Password", "Rc:Shards:cache01:Password: Rc:Shards:cache01:User is set")]
    [InlineData("""{ "Rc": { "Store": "Sharded", "Shards": { "cache01": { "SslHost": "redis.example" } } } }""", "PropertyRequired: #/Rc.Shards.cache01.Ssl", "Rc:Shards:cache01:SslHost: applies only to a TLS connection")]
    [InlineData("""{ "Rc": { "Store": "Sharded", "Shards": { "cache01": { "Ssl": false, "SslHost": "redis.example" } } } }""", "NotInEnumeration: #/Rc.Shards.cache01.Ssl", "Rc:Shards:cache01:SslHost: applies only to a TLS connection")]
    [InlineData("""{ "Rc": { "Caches": { "posts": { "Redis": "localhost:6379" } } } }""", "NullExpected: #/Rc.Caches.posts.Redis", "Rc:Caches:posts: Redis, Router and Shards apply only to a cache with a Store of its own")]
    [InlineData("""{ "Rc": { "Caches": { "posts": { "Router": "Ketama" } } } }""", "NullExpected: #/Rc.Caches.posts.Router", "Rc:Caches:posts: Redis, Router and Shards apply only to a cache with a Store of its own")]
    [InlineData("""{ "Rc": { "Caches": { "posts": { "Store": null, "Shards": { "cache01": { "Port": 6379 } } } } } }""", "NoAdditionalPropertiesAllowed: #/Rc.Caches.posts.Shards.cache01", "Rc:Caches:posts: Redis, Router and Shards apply only to a cache with a Store of its own")]
    [InlineData("""{ "Rc": { "Caches": { "posts": { "Store": "Redis", "Redis": " " } } } }""", "PatternMismatch: #/Rc.Caches.posts.Redis", "Rc:Caches:posts:Redis: Store=Redis needs a StackExchange.Redis configuration string")]
    [InlineData("""{ "Rc": { "Caches": { "posts": { "Store": "redis", "Redis": " " } } } }""", "PatternMismatch: #/Rc.Caches.posts.Redis", "Rc:Caches:posts:Redis: Store=Redis needs a StackExchange.Redis configuration string")]
    [InlineData("""{ "Rc": { "Store": "sharded" } }""", "PropertyRequired: #/Rc.Shards", "Rc:Shards: Store=Sharded needs at least one shard")]
    [InlineData("""{ "Rc": { "Store": "Rediss" } }""", "PatternMismatch: #/Rc.Store", "Rc:Store: 'Rediss' is not allowed; use one of Memory, Redis, Sharded, Null.")]
    [InlineData("""{ "Rc": { "Router": "crc" } }""", "PatternMismatch: #/Rc.Router", "Rc:Router: 'crc' is not allowed; use one of Crc32, Ketama.")]
    public async Task Schema_RefusesWhatStartUpRefuses(string json, string schemaError, string startupError)
    {
        Assert.Contains(schemaError, Flatten((await LoadSchemaAsync()).Validate(json)).Select(static e => $"{e.Kind}: {e.Path}"));
        Assert.Contains(startupError, StartupError(json), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{ "Rc": { "OperationTimeout": "00:00:00.0000001" } }""")]
    [InlineData("""{ "Rc": { "DefaultExpiration": "9999999.23:59:59.9999999" } }""")]
    [InlineData("""{ "Rc": { "DefaultExpiration": "1:00", "CircuitBreakDuration": "23:59", "RemovalReplayWindow": "1.00:00:00" } }""")]
    [InlineData("""{ "Rc": { "OperationTimeout": "48.23:59:59.9999999", "CircuitBreakDuration": "0:0:5" } }""")]
    [InlineData("""{ "Rc": { "Store": "Sharded", "Shards": { "cache01": { "Db": 2147483647 } } } }""")]
    [InlineData("""{ "Rc": { "MaximumValueSize": 2147483647, "MemorySizeLimit": 9223372036854775807, "NearCache": { "MaximumSize": 9223372036854775807 } } }""")]
    [InlineData("""{ "Rc": { "CacheStatusHeader": "" } }""")]
    [InlineData("""{ "Rc": { "CacheStatusHeader": "X-Cache-Status" } }""")]
    [InlineData("""{ "Rc": { "Store": "Sharded", "Shards": { "cache01": { "UnixSocketPath": "/var/run/redis/redis.sock" } } } }""")]
    [InlineData("""{ "Rc": { "Store": "Redis", "Redis": null, "RedisConnectionName": "cache" }, "ConnectionStrings": { "cache": "localhost:6379" } }""")]
    [InlineData("""{ "Rc": { "Store": "Sharded", "Shards": { "cache01": { "Port": 6379 } } } }""")]
    [InlineData("""{ "Rc": { "Caches": { "posts": { "Store": "Sharded", "Shards": { "cache01": { "Port": 6379 } } } } } }""")]
    [InlineData("""{ "Rc": { "Store": "Redis", "Redis": "localhost:6379" } }""")]
    [InlineData("""{ "Rc": { "Store": "Sharded", "Shards": { "cache01": { "Host": "10.0.0.5", "User": "app", "Password": "secret", "Ssl": true, "SslHost": "redis.example" } } } }""")]
    [InlineData("""{ "Rc": { "Store": "Sharded", "Shards": { "cache01": { "Host": "::1" }, "cache02": { "Host": "fe80::1%2" }, "cache03": { "Host": "::ffff:10.0.0.5" }, "cache04": { "Host": "redis_1" }, "cache05": { "Host": "cache-01.redis.example" } } } }""")]
    [InlineData("""{ "Rc": { "Caches": { "posts": { "Store": "Redis", "Redis": "localhost:6379", "Router": null } } } }""")]
    [InlineData("""{ "Rc": { "Caches": { "posts": { "Store": null, "Redis": null, "Router": null, "Shards": {} } } } }""")]
    [InlineData("""{ "Rc": { "Store": "Sharded", "Shards": { "cache01": {} } } }""")]
    [InlineData("""{ "Rc": { "Store": "Sharded", "Shards": { "cache01": { "Password": null } } } }""")]
    [InlineData("""{ "Rc": { "Caches": { "pages": {} } } }""")]
    [InlineData("""{ "Rc": { "Store": "Redis", "Redis": "localhost:6379", "Shards": { "cache01": { "Port": 6380 } } } }""")]
    [InlineData("""{ "Rc": { "Store": "sharded", "Router": " KETAMA ", "StampedeProtection": "fleet", "FailureMode": "throw", "Shards": { "cache01": { "Port": 6379 } }, "Caches": { "posts": { "Store": "redis", "Redis": "localhost:6379", "StampedeProtection": "process" }, "pages": { "Store": "null" } } } }""")]
    public async Task Schema_AcceptsWhatStartUpAccepts(string json)
    {
        Assert.Empty((await LoadSchemaAsync()).Validate(json).Select(static e => e.ToString()));
        Assert.Null(StartupError(json));
    }

    [Fact]
    public async Task Schema_RefusesHoursPast23WithoutDays_WhichTimeSpanReadsAsDays()
    {
        var errors = (await LoadSchemaAsync()).Validate("""{ "Rc": { "DefaultExpiration": "24:00:00" } }""");
        Assert.Contains("PatternMismatch: #/Rc.DefaultExpiration", Flatten(errors).Select(static e => $"{e.Kind}: {e.Path}"));
        Assert.Equal(TimeSpan.FromDays(24), TimeSpan.Parse("24:00:00", CultureInfo.InvariantCulture));
    }

    [Theory]
    [MemberData(nameof(NullableSettings))]
    public async Task Schema_AcceptsNullForANullableSetting(string json)
    {
        Assert.Empty((await LoadSchemaAsync()).Validate(json).Select(static e => e.ToString()));
        Assert.Null(StartupError(json));
    }

    /// <summary>A settings file for each setting of a nullable type, with that setting null (a JSON null leaves it unset).</summary>
    public static TheoryData<string> NullableSettings()
    {
        var nullability = new NullabilityInfoContext();
        var data = new TheoryData<string>();
        foreach (var (type, around) in new (Type, string)[]
        {
            (typeof(RcOptions), """{ "Rc": { # } }"""),
            (typeof(RcFailSafeOptions), """{ "Rc": { "FailSafe": { # } } }"""),
            (typeof(RcNamedCacheOptions), """{ "Rc": { "Caches": { "posts": { # } } } }"""),
            (typeof(RcShardOptions), """{ "Rc": { "Shards": { "cache01": { "Port": 6379, # } } } }"""),
        })
        {
            foreach (var property in RcOptionsBinder.Settings(type).Where(p => p.CanWrite && nullability.Create(p).WriteState == NullabilityState.Nullable))
            {
                data.Add(around.Replace("#", $"\"{property.Name}\": null", StringComparison.Ordinal));
            }
        }

        return data;
    }

    [Fact]
    public async Task SampleAppSettings_AreValidAgainstTheSchema()
    {
        var root = RepositoryRoot();
        var files = Directory.GetFiles(Path.Combine(root, "samples"), "appsettings*.json", SearchOption.AllDirectories)
            .Where(static f => !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal) && !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .ToArray();
        Assert.NotEmpty(files);
        var schema = await LoadSchemaAsync();
        foreach (var file in files)
        {
            var json = File.ReadAllText(file);
            using var document = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            Assert.True(document.RootElement.TryGetProperty("Rc", out _), $"{file} has no Rc section.");
            Assert.Empty(schema.Validate(json).Select(e => $"{file}: {e}"));
        }
    }

    internal static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "RcAspNet.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("RcAspNet.sln not found above the test binaries.");
    }

    /// <summary>Why start-up refuses <paramref name="json"/> as the application's settings, or null when it accepts them.</summary>
    private static string? StartupError(string json)
    {
        var configuration = new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build();
        var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration);
        services.AddRcCache(configuration.GetSection(RcOptions.SectionName));
        using var provider = services.BuildServiceProvider();
        try
        {
            _ = provider.GetRequiredService<IOptions<RcOptions>>().Value;
            return null;
        }
        catch (OptionsValidationException ex)
        {
            return ex.Message;
        }
    }

    private static Task<JsonSchema> LoadSchemaAsync() =>
        JsonSchema.FromJsonAsync(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Data", "appsettings.schema.json")));

    /// <summary>The schema and every schema inside it, each once.</summary>
    private static HashSet<JsonSchema> All(JsonSchema root)
    {
        var seen = new HashSet<JsonSchema>();
        var pending = new Stack<JsonSchema>([root]);
        while (pending.TryPop(out var schema))
        {
            if (!seen.Add(schema))
            {
                continue;
            }

            IEnumerable<JsonSchema?> children =
            [
                .. schema.Definitions.Values, .. schema.Properties.Values, .. schema.PatternProperties.Values,
                .. schema.AllOf, .. schema.AnyOf, .. schema.OneOf, .. schema.Items,
                schema.AdditionalPropertiesSchema, schema.AdditionalItemsSchema, schema.Item, schema.Not, schema.Reference,
            ];
            foreach (var child in children.OfType<JsonSchema>())
            {
                pending.Push(child);
            }
        }

        return seen;
    }

    /// <summary>The errors themselves: NJsonSchema wraps those found inside a subschema (such as a shard under Shards) in a child error.</summary>
    private static IEnumerable<ValidationError> Leaves(IEnumerable<ValidationError> errors) =>
        errors.SelectMany(static e => e is ChildSchemaValidationError child ? Leaves(child.Errors.Values.SelectMany(static v => v)) : [e]);

    /// <summary>Every error, and every error found inside a subschema or for one of several types (wrapped in another error).</summary>
    private static IEnumerable<ValidationError> Flatten(IEnumerable<ValidationError> errors) => errors.SelectMany(static e => e switch
    {
        ChildSchemaValidationError child => Flatten(child.Errors.Values.SelectMany(static v => v)).Prepend(e),
        MultiTypeValidationError types => Flatten(types.Errors.Values.SelectMany(static v => v)).Prepend(e),
        _ => [e],
    });

    /// <summary>Whether a setting's schema has a description: its own, or that of the definition it refers to.</summary>
    private static bool Described(JsonElement schema) =>
        schema.TryGetProperty("description", out _)
        || (schema.TryGetProperty("$ref", out var reference) && Described(Resolve(reference.GetString()!)))
        || (schema.TryGetProperty("allOf", out var all) && all.EnumerateArray().Any(Described))
        || (schema.TryGetProperty("anyOf", out var any) && any.EnumerateArray().Any(Described));

    /// <summary>Every JSON object in <paramref name="element"/>, itself included.</summary>
    private static IEnumerable<JsonElement> Objects(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => element.EnumerateObject().SelectMany(static p => Objects(p.Value)).Prepend(element),
        JsonValueKind.Array => element.EnumerateArray().SelectMany(Objects),
        _ => [],
    };

    private static JsonElement Resolve(string reference)
    {
        var target = Schema;
        foreach (var part in reference.TrimStart('#', '/').Split('/'))
        {
            target = target.GetProperty(part);
        }

        return target;
    }

    private static object? Convert(JsonElement value, Type type) => value.ValueKind switch
    {
        JsonValueKind.Null => null,
        JsonValueKind.True or JsonValueKind.False => value.GetBoolean(),
        _ => TypeDescriptor.GetConverter(Nullable.GetUnderlyingType(type) ?? type).ConvertFromInvariantString(value.ToString()),
    };

    /// <summary>How the XML docs write a default.</summary>
    private static string Words(object? value) => value switch
    {
        null => "none",
        ICollection { Count: 0 } => "none",
        "" => "the empty string",
        string s => s,
        RcNearCacheOptions => "off",
        RcFailSafeOptions => "fail-safe off",
        bool b => b ? "langword=\"true\"" : "langword=\"false\"",
        Enum e => $"F:{e.GetType().FullName}.{e}",
        TimeSpan { TotalDays: >= 1 } t when t.TotalDays % 1 == 0 => $"{t.TotalDays} days",
        TimeSpan { TotalSeconds: >= 1 } t when t.TotalSeconds % 1 == 0 => $"{t.TotalSeconds} seconds",
        TimeSpan t => $"{t.TotalMilliseconds} milliseconds",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => throw new NotSupportedException(value.GetType().Name),
    };
}
