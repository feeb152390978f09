using System.Collections.Concurrent;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Routing;

/// <summary>An IRcRouter registered in DI routes every key of a sharded store, proven by what each server holds.</summary>
public sealed class CustomRouterTests : IAsyncLifetime
{
    private readonly DigitRouter _router = new();
    private RedisServer[] _servers = [];
    private ServiceProvider? _services;

    private IRcCache Cache => _services!.GetRequiredService<IRcCache>();

    private string Ns => Cache.Namespace;

    public async Task InitializeAsync()
    {
        _servers = await SharedRedis.Shards;
        _services = TestServices.Build(
            o =>
            {
                TestServices.Sharded(o, _servers);
                o.Namespace = SharedRedis.UniqueNamespace();
                o.FailureMode = RcFailureMode.Throw;
                o.OperationTimeout = TimeSpan.FromSeconds(10);
            },
            s => s.AddSingleton<IRcRouter>(_router));
    }

    public async Task DisposeAsync() => await _services!.DisposeAsync();

    /// <summary>The server of the shard that <see cref="DigitRouter"/> names for a key ending in <paramref name="digit"/>.</summary>
    private RedisServer ServerFor(int digit) => DigitRouter.ShardOf(digit) switch
    {
        "cache01" => _servers[0],
        "cache02" => _servers[1],
        _ => _servers[2],
    };

    /// <summary>Checks that the namespaced key exists on exactly the server its last digit names, and on no other.</summary>
    private async Task AssertOnlyOnRoutedServerAsync(string key)
    {
        var routed = ServerFor(key[^1] - '0');
        foreach (var server in _servers)
        {
            var exists = await server.CommandAsync("EXISTS", Ns + key);
            Assert.True(
                exists == (server == routed ? ":1\r\n" : ":0\r\n"),
                $"{key} on port {server.Port}: EXISTS said {exists.Trim()}; the router named port {routed.Port}.");
        }
    }

    [Fact]
    public async Task TypedCacheWrites_LandOnTheShardTheRouterNames()
    {
        var keys = Enumerable.Range(0, 9).Select(static d => $"many{d}").ToArray();
        await Cache.SetManyAsync(keys.Select(static (k, i) => new KeyValuePair<string, int>(k, i)).ToArray());
        for (var d = 0; d < 9; d++)
        {
            await Cache.SetAsync($"one{d}", d);
        }

        foreach (var key in keys.Concat(Enumerable.Range(0, 9).Select(static d => $"one{d}")))
        {
            await AssertOnlyOnRoutedServerAsync(key);
        }
    }

    [Fact]
    public async Task TypedCacheReads_AskTheShardTheRouterNames()
    {
        var keys = Enumerable.Range(0, 9).Select(static d => $"raw{d}").ToArray();
        for (var d = 0; d < 9; d++)
        {
            // Written past the library, straight to the server the router names: only a routed read finds it.
            Assert.Equal("+OK\r\n", await ServerFor(d).CommandAsync("SET", Ns + keys[d], (d * 10).ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }

        Assert.Equal(Enumerable.Range(0, 9).Select(static d => (int?)(d * 10)), await Cache.GetManyAsync<int?>(keys));
        Assert.Equal(70, await Cache.GetAsync<int>("raw7"));
    }

    [Fact]
    public async Task DistributedCacheAndBatchWrites_LandOnTheShardTheRouterNames()
    {
        var distributed = _services!.GetRequiredService<IDistributedCache>();
        for (var d = 0; d < 9; d++)
        {
            await distributed.SetAsync($"dist{d}", [1, 2, 3], new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromMinutes(5) });
        }

        await using (var scope = _services!.CreateAsyncScope())
        {
            var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
            var promises = Enumerable.Range(0, 9).Select(d => batch.Load($"batch{d}", _ => ValueTask.FromResult(d))).ToArray();
            await batch.FlushAsync();
            Assert.Equal(Enumerable.Range(0, 9), promises.Select(static p => p.Value));
        }

        foreach (var key in Enumerable.Range(0, 9).SelectMany(static d => new[] { $"dist{d}", $"batch{d}" }))
        {
            await AssertOnlyOnRoutedServerAsync(key);
        }
    }

    [Fact]
    public async Task Router_IsAskedWithTheNamespacedKey()
    {
        await Cache.SetAsync("asked1", 1);
        Assert.Contains(Ns + "asked1", _router.Asked);
        Assert.DoesNotContain("asked1", _router.Asked);
    }

    [Fact]
    public async Task ARouterThatReturnsNoIndexOfItsShards_IsAnErrorThatSaysSo()
    {
        // DigitRouter routes a key ending in '.' to ('.' - '0') % 3 = -2.
        var error = await Assert.ThrowsAsync<InvalidOperationException>(async () => await Cache.GetAsync<string>("key."));
        Assert.Contains("returned -2 for a key; IRcRouter.GetShard must return an index of its Shards, from 0 to 2.", error.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// Routes a key by its last character, a digit: 0, 3, 6 to cache03, 1, 4, 7 to cache01, 2, 5, 8 to cache02. Its
    /// shards are listed out of name order, so an index into any other list would pick the wrong server.
    /// </summary>
    private sealed class DigitRouter : IRcRouter
    {
        private static readonly string[] Order = ["cache03", "cache01", "cache02"];

        public IReadOnlyList<string> Shards => Order;

        public ConcurrentQueue<string> Asked { get; } = new();

        public static string ShardOf(int digit) => Order[digit % 3];

        public int GetShard(string key)
        {
            Asked.Enqueue(key);
            return (key[^1] - '0') % 3;
        }
    }
}
