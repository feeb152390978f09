using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Caching;

/// <summary>
/// What reads of a hot sliding entry cost, counted by the Redis servers themselves (INFO commandstats): one GET each,
/// and a renewal at most once per hundredth of the window, on every Redis store. The servers are this class's own, so
/// that no other test's commands are counted.
/// </summary>
public sealed class SlidingReadCostTests(SlidingReadCostTests.Servers servers, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<SlidingReadCostTests.Servers>
{
    private const int Reads = 1000;

    public static TheoryData<string> Stores => ["redis", "sharded", "cluster"];

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task ThousandAsyncSlidingReadsOfAHotKey_CostAtMostTenCommandsMoreThanTheReads(string store) =>
        await MeasureAsync(store, "async", static (cache, key) => cache.GetAsync(key));

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task ThousandSyncSlidingReadsOfAHotKey_CostAtMostTenCommandsMoreThanTheReads(string store) =>
        await MeasureAsync(store, "sync", static (cache, key) => Task.FromResult(cache.Get(key)));

    private async Task MeasureAsync(string store, string mode, Func<IDistributedCache, string, Task<byte[]?>> read)
    {
        using var services = TestServices.Build(o =>
        {
            servers.Configure(store, o);
            o.Namespace = $"sliding-{mode}:";

            // A cost test, not a fault test: a slow moment of a loaded machine must not turn a read into a miss.
            o.OperationTimeout = TimeSpan.FromSeconds(10);
        });
        var cache = services.GetRequiredService<IDistributedCache>();
        await cache.SetAsync("hot", new byte[64], new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromMinutes(10) });
        await read(cache, "hot");
        await servers.ResetStatsAsync(store);

        for (var i = 0; i < Reads; i++)
        {
            Assert.NotNull(await read(cache, "hot"));
        }

        // Renewals are sent without waiting: give them time to arrive before counting.
        await Task.Delay(200);
        var stats = await servers.StatsAsync(store);
        var gets = stats.GetValueOrDefault("get");
        var renewals = stats.GetValueOrDefault("pexpire") + stats.GetValueOrDefault("expire");
        var data = stats.Where(static s => !Background.Contains(s.Key)).Sum(static s => s.Value);
        output.WriteLine($"{store} {mode}: {Reads} sliding reads cost {data} commands ({gets} GET, {renewals} renewals)");
        Assert.Equal(Reads, gets);
        Assert.InRange(data, Reads, Reads + 10);
    }

    /// <summary>What a client sends on its own (keep-alives, topology checks), not on behalf of a read.</summary>
    private static readonly HashSet<string> Background = new(StringComparer.OrdinalIgnoreCase)
    {
        "ping", "echo", "info", "cluster|nodes", "cluster|slots", "client|setname", "client|id", "client|info", "config|get", "subscribe", "role", "hello",
    };

    /// <summary>A single server, three shards and a three-master cluster that only this class uses.</summary>
    public sealed class Servers : IAsyncLifetime
    {
        private RedisServer _single = null!;
        private RedisServer[] _shards = null!;
        private RedisClusterServers _cluster = null!;

        public async Task InitializeAsync()
        {
            var single = RedisServer.StartAsync();
            var shards = RedisServer.StartManyAsync(3);
            var cluster = RedisClusterServers.StartAsync();
            (_single, _shards, _cluster) = (await single, await shards, await cluster);
        }

        public async Task DisposeAsync()
        {
            await _single.DisposeAsync();
            foreach (var shard in _shards)
            {
                await shard.DisposeAsync();
            }

            await _cluster.DisposeAsync();
        }

        public void Configure(string store, RcOptions options)
        {
            switch (store)
            {
                case "redis":
                    TestServices.Redis(options, _single);
                    break;
                case "sharded":
                    TestServices.Sharded(options, _shards);
                    break;
                default:
                    options.Store = RcStoreKind.Redis;
                    options.Redis = _cluster.Configuration;
                    break;
            }
        }

        public Task ResetStatsAsync(string store) => Task.WhenAll(Of(store).Select(static s => s.ResetStatsAsync()));

        /// <summary>Commands run on every server of the store since the last reset, summed by name.</summary>
        public async Task<Dictionary<string, long>> StatsAsync(string store) =>
            (await Task.WhenAll(Of(store).Select(static s => s.CommandStatsAsync())))
                .SelectMany(static s => s)
                .GroupBy(static s => s.Key, StringComparer.OrdinalIgnoreCase)
                .ToDictionary(static g => g.Key, static g => g.Sum(static s => s.Value), StringComparer.OrdinalIgnoreCase);

        private IEnumerable<RedisServer> Of(string store) => store switch
        {
            "redis" => [_single],
            "sharded" => _shards,
            _ => _cluster.Nodes,
        };
    }
}
