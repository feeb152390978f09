using System.Text.Json.Serialization;
using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Caching;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Caching;

public sealed record Snake(int PostId, string PostTitle);

public sealed record NotInTheContext(int Id);

[JsonSerializable(typeof(Snake))]
public sealed partial class SnakeContext : JsonSerializerContext;

/// <summary>Typed-cache behaviour that does not depend on the store.</summary>
public sealed class TypedCacheTests
{
    [Fact]
    public async Task WithoutANamespace_AFleetLocksKey_IsAnArgumentErrorNamingTheRule()
    {
        // The empty namespace (the default, as rc's) leaves "rc-lock:post:1" to the fleet's lock of "post:1".
        await using var services = TestServices.Build(static _ => { });
        var cache = services.GetRequiredService<IRcCache>();
        var error = await Assert.ThrowsAsync<ArgumentException>(async () => await cache.SetAsync("rc-lock:post:1", 1));
        Assert.Contains("rc-lock:", error.Message, StringComparison.Ordinal);
        await cache.SetAsync("post:1", 1);
        Assert.Equal(1, await cache.GetAsync<int>("post:1"));
    }

    [Fact]
    public async Task JsonSerializerContext_IsHonoured_ReflectionIsNotUsed()
    {
        await using var services = TestServices.Build(static o => o.Namespace = "json:", static s => s.ConfigureRcJson(static o => o.TypeInfoResolver = SnakeContext.Default));
        var cache = services.GetRequiredService<IRcCache>();
        await cache.SetAsync("post", new Snake(1, "Hi"));
        Assert.Equal(new Snake(1, "Hi"), await cache.GetAsync<Snake>("post"));
        Assert.Equal("{\"postId\": 1, \"postTitle\": \"Hi\"}", System.Text.Encoding.UTF8.GetString((await services.GetRequiredService<Microsoft.Extensions.Caching.Distributed.IDistributedCache>().GetAsync("post"))!));
        await Assert.ThrowsAsync<NotSupportedException>(async () => await cache.SetAsync("other", new NotInTheContext(1)));
    }

    [Fact]
    public void SerializersWithOtherOptions_EachKeepTheirOwnContract_AcrossAHotReload()
    {
        // Each serializer remembers its contracts per type; two in one process must never answer with the other's.
        var camel = new RcJsonSerializer(static o => o.TypeInfoResolver = SnakeContext.Default);
        var pascal = new RcJsonSerializer(static o => o.PropertyNamingPolicy = null);
        for (var round = 0; round < 2; round++)
        {
            Assert.Equal("{\"postId\": 1, \"postTitle\": \"Hi\"}", System.Text.Encoding.UTF8.GetString(camel.Serialize(new Snake(1, "Hi"))));
            Assert.Equal("{\"PostId\": 1, \"PostTitle\": \"Hi\"}", System.Text.Encoding.UTF8.GetString(pascal.Serialize(new Snake(1, "Hi"))));
            Assert.Equal(new Snake(2, "x"), camel.Deserialize<Snake>("{\"postId\": 2, \"postTitle\": \"x\"}"u8));
            Assert.Throws<NotSupportedException>(() => camel.Serialize(new NotInTheContext(1)));
            Assert.Equal("{\"Id\": 1}", System.Text.Encoding.UTF8.GetString(pascal.Serialize(new NotInTheContext(1))));
            RcJsonSerializer.HotReload.ClearCache(null);
        }
    }

    [Fact]
    public async Task NamedCache_WithAStoreOfItsOwn_KeepsItsEntriesThere()
    {
        var server = await SharedRedis.Single;
        var ns = SharedRedis.UniqueNamespace();
        await using var services = TestServices.Build(o =>
        {
            o.Namespace = ns;
            o.Caches["remote"] = new RcNamedCacheOptions { Store = RcStoreKind.Redis, Redis = server.EndPoint, Namespace = ns, DefaultExpiration = TimeSpan.FromSeconds(90) };
        });
        var remote = services.GetRequiredKeyedService<IRcCache>("remote");
        await remote.SetAsync("k", 1);
        Assert.Equal(":1\r\n", await server.CommandAsync("EXISTS", ns + "k"));
        Assert.InRange(long.Parse((await server.CommandAsync("PTTL", ns + "k")).Trim(':', '\r', '\n'), System.Globalization.CultureInfo.InvariantCulture), 80_000, 90_000);
        Assert.Null(await services.GetRequiredService<IRcCache>().GetAsync<int?>("k"));
    }

    [Fact]
    public async Task NullArguments_AreArgumentErrorsNamingTheParameter()
    {
        await using var services = TestServices.Build(static o => o.Namespace = "n:");
        var cache = services.GetRequiredService<IRcCache>();
        Assert.Equal("key", (await Assert.ThrowsAsync<ArgumentNullException>(async () => await cache.GetAsync<int>(null!))).ParamName);
        Assert.Equal("key", (await Assert.ThrowsAsync<ArgumentNullException>(async () => await cache.SetAsync(null!, 1))).ParamName);
        Assert.Equal("keys", (await Assert.ThrowsAsync<ArgumentNullException>(async () => await cache.GetManyAsync<int>(null!))).ParamName);
        Assert.Equal("items", (await Assert.ThrowsAsync<ArgumentNullException>(async () => await cache.SetManyAsync<int>(null!))).ParamName);
        Assert.Equal("factory", (await Assert.ThrowsAsync<ArgumentNullException>(async () => await cache.GetOrSetAsync<int>("k", null!))).ParamName);
        Assert.Equal("key", (await Assert.ThrowsAsync<ArgumentException>(async () => await cache.DeleteAsync(""))).ParamName);
        Assert.Equal("expiration", (await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await cache.TouchAsync("k", TimeSpan.Zero))).ParamName);
        Assert.Equal("name", (await Assert.ThrowsAsync<ArgumentNullException>(async () => await cache.InvalidateAsync(null!))).ParamName);
    }

    [Fact]
    public async Task Arguments_AreCheckedBeforeAnythingIsWrittenOrRemoved()
    {
        await using var services = TestServices.Build(static o =>
        {
            o.Namespace = "args:";
            o.BypassValues.Add("null");
        });
        var cache = services.GetRequiredService<IRcCache>();
        await cache.SetAsync("kept", 1);
        await cache.SetAsync("other", 2);

        // A bypass value with an expiration that is not positive: refused, not taken for a delete.
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await cache.SetAsync<int?>("kept", null, new RcEntryOptions { Expiration = TimeSpan.Zero }));
        Assert.Equal(1, await cache.GetAsync<int>("kept"));

        // Writes of which one key breaks a rule: refused before another's bypass value removes it.
        await Assert.ThrowsAsync<ArgumentException>(async () => await cache.SetManyAsync([KeyValuePair.Create("other", (int?)null), KeyValuePair.Create("", (int?)3)]));
        Assert.Equal(2, await cache.GetAsync<int>("other"));

        // A key the cache cannot hold, with a cancelled token: cancelled, as any call is, and the factory not run.
        var runs = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await cache.GetOrSetAsync(new string('k', 2000), _ => ValueTask.FromResult(++runs), cancellationToken: new CancellationToken(true)));
        Assert.Equal(0, runs);
    }

    [Fact]
    public async Task NullStore_StoresNothingAndNeverThrows()
    {
        await using var services = TestServices.Build(static o => (o.Store, o.Namespace) = (RcStoreKind.Null, "null:"));
        var cache = services.GetRequiredService<IRcCache>();
        await cache.SetAsync("k", 1);
        Assert.Null(await cache.GetAsync<int?>("k"));
        Assert.Equal([null, null], await cache.GetManyAsync<int?>(["k", "j"]));
        await cache.SetManyAsync<int>([new("k", 1)]);
        Assert.True(await cache.AddAsync("k", 1));
        Assert.Equal(new RcRemovalResult(0, 0), await cache.DeleteAsync("k"));
        Assert.Equal(new RcRemovalResult(0, 0), await cache.DeleteManyAsync(["k"]));
        Assert.False(await cache.ExistsAsync("k"));
        Assert.Equal(5, await cache.IncrementAsync("k", 5));
        Assert.False(await cache.TouchAsync("k", TimeSpan.FromMinutes(1)));
        Assert.Equal(new RcRemovalResult(0, 0), await cache.ClearAsync());
        Assert.Equal(2, await cache.GetOrSetAsync("k", _ => ValueTask.FromResult(2)));
        await Assert.ThrowsAsync<NotSupportedException>(async () => await cache.GetRedisConnectionsAsync());
        await using var scope = services.CreateAsyncScope();
        var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
        Assert.Equal(3, await batch.Load("b", _ => ValueTask.FromResult(3)).ResolveAsync());
        Assert.Empty(await services.GetRequiredService<RcAspNet.Caching.CacheRegistry>().Stores[0].CheckHealthAsync(default));
    }
}
