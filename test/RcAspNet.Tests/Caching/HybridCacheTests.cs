using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Caching;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Caching;

/// <summary>
/// HybridCache (services.AddHybridCache()) over RcAspNet as its second level, on one Redis and on three shards.
/// Each node is a ServiceProvider of its own, as an app instance is: it shares only Redis with the others.
/// </summary>
public sealed class HybridCacheTests
{
    private const string Key = "product:42";

    private readonly string _ns = SharedRedis.UniqueNamespace();

    [Theory]
    [InlineData(RcStoreKind.Redis)]
    [InlineData(RcStoreKind.Sharded)]
    public async Task GetOrCreate_OnASecondNode_ReturnsTheFirstNodesValueWithoutRunningItsFactory(RcStoreKind store)
    {
        var servers = await ServersAsync(store);
        await using var a = Node(store, servers);
        await using var b = Node(store, servers);
        Assert.Equal("from A", await GetOrCreateAsync(a, "from A"));
        Assert.Equal(1, await WaitUntilStoredAsync(servers));

        var calls = 0;
        Assert.Equal("from A", await GetOrCreateAsync(b, "from B", () => calls++));
        Assert.Equal(0, calls);
    }

    [Theory]
    [InlineData(RcStoreKind.Redis)]
    [InlineData(RcStoreKind.Sharded)]
    public async Task GetOrCreate_StoresTheSecondLevelEntryInRedisUnderTheNamespace(RcStoreKind store)
    {
        var servers = await ServersAsync(store);
        await using var a = Node(store, servers);
        await GetOrCreateAsync(a, "from A");

        // The one key of this namespace on all the servers: the caller's key behind the namespace, on one shard.
        Assert.Equal(1, await WaitUntilStoredAsync(servers));
        Assert.Equal([_ns + Key], await KeysAsync(servers, _ns + "*"));
        Assert.Equal(0, await CountAsync(servers, Key));

        // Another app instance reads it through RcAspNet's IDistributedCache (HybridCache's payload itself is opaque).
        await using var reader = Node(store, servers);
        Assert.NotNull(await reader.GetRequiredService<IDistributedCache>().GetAsync(Key));
    }

    [Theory]
    [InlineData(RcStoreKind.Redis)]
    [InlineData(RcStoreKind.Sharded)]
    public async Task Remove_OnOneNode_MakesAFreshNodeRunItsFactory(RcStoreKind store)
    {
        var servers = await ServersAsync(store);
        await using var a = Node(store, servers);
        await GetOrCreateAsync(a, "from A");
        Assert.Equal(1, await WaitUntilStoredAsync(servers));

        await a.GetRequiredService<HybridCache>().RemoveAsync(Key);

        Assert.Equal(0, await CountAsync(servers, _ns + Key));
        await using var c = Node(store, servers);
        var calls = 0;
        Assert.Equal("from C", await GetOrCreateAsync(c, "from C", () => calls++));
        Assert.Equal(1, calls);
    }

    [Theory]
    [InlineData(RcStoreKind.Redis)]
    [InlineData(RcStoreKind.Sharded)]
    public async Task GetOrCreate_WithTheLocalCacheDisabled_ReadsRedisEveryTime(RcStoreKind store)
    {
        var servers = await ServersAsync(store);
        await using var a = Node(store, servers);
        await using var b = Node(store, servers, static o => o.DefaultEntryOptions = new HybridCacheEntryOptions { Flags = HybridCacheEntryFlags.DisableLocalCache });
        await GetOrCreateAsync(a, "first");
        Assert.Equal(1, await WaitUntilStoredAsync(servers));
        var calls = 0;
        Assert.Equal("first", await GetOrCreateAsync(b, "from B", () => calls++));

        // SetAsync returns once the value is in Redis; B, holding nothing locally, sees it at its next read.
        await a.GetRequiredService<HybridCache>().SetAsync(Key, "second");

        Assert.Equal("second", await GetOrCreateAsync(b, "from B", () => calls++));
        Assert.Equal(0, calls);
    }

    [Fact]
    public async Task AddRcCache_RegistersAnIDistributedCacheThatIsAlsoTheBufferCache()
    {
        var server = await SharedRedis.Single;
        await using var node = Node(RcStoreKind.Redis, [server]);

        // HybridCache resolves IDistributedCache and uses its buffer API when that object is an IBufferDistributedCache.
        var distributed = node.GetRequiredService<IDistributedCache>();
        Assert.IsType<RcDistributedCache>(distributed);
        Assert.Same(distributed, node.GetRequiredService<IBufferDistributedCache>());
    }

    private static async Task<RedisServer[]> ServersAsync(RcStoreKind store) =>
        store == RcStoreKind.Sharded ? await SharedRedis.Shards : [await SharedRedis.Single];

    /// <summary>An app instance: RcAspNet on the servers under this test's namespace, and HybridCache over it.</summary>
    private ServiceProvider Node(RcStoreKind store, RedisServer[] servers, Action<HybridCacheOptions>? hybrid = null) => TestServices.Build(
        o =>
        {
            if (store == RcStoreKind.Sharded)
            {
                TestServices.Sharded(o, servers);
            }
            else
            {
                TestServices.Redis(o, servers[0]);
            }

            o.Namespace = _ns;
            o.FailureMode = RcFailureMode.Throw;
            o.OperationTimeout = TimeSpan.FromSeconds(5);
        },
        services => services.AddHybridCache(hybrid ?? (static _ => { })));

    private static async Task<string> GetOrCreateAsync(ServiceProvider node, string value, Action? counted = null) =>
        await node.GetRequiredService<HybridCache>().GetOrCreateAsync(Key, _ =>
        {
            counted?.Invoke();
            return ValueTask.FromResult(value);
        });

    /// <summary>
    /// Waits for the namespaced key to appear and returns on how many servers it is. HybridCache hands the factory's
    /// value to its callers first and writes the second level after, so a read from another node could otherwise race it.
    /// </summary>
    private async Task<long> WaitUntilStoredAsync(RedisServer[] servers)
    {
        var waited = Stopwatch.StartNew();
        long count;
        while ((count = await CountAsync(servers, _ns + Key)) == 0 && waited.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(10);
        }

        return count;
    }

    /// <summary>On how many of the servers the key exists.</summary>
    private static async Task<long> CountAsync(RedisServer[] servers, string key)
    {
        long count = 0;
        foreach (var server in servers)
        {
            count += long.Parse((await server.CommandAsync("EXISTS", key)).AsSpan(1).Trim(), CultureInfo.InvariantCulture);
        }

        return count;
    }

    /// <summary>The keys matching a pattern on all the servers, from KEYS's RESP reply.</summary>
    private static async Task<string[]> KeysAsync(RedisServer[] servers, string pattern)
    {
        var keys = new List<string>();
        foreach (var server in servers)
        {
            var lines = (await server.CommandAsync("KEYS", pattern)).Split("\r\n");
            keys.AddRange(lines.Where((_, i) => i > 0 && lines[i - 1].StartsWith('$')));
        }

        return [.. keys];
    }
}
