using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Benchmarks.Loading;

/// <summary>
/// A stampede across a fleet: three app nodes (service providers of their own, each with its own connection, one
/// namespace on one redis-server), ten concurrent callers on each, all missing one key whose factory takes 300 ms;
/// repeated for fresh keys. How many times the factory ran per key, how long callers waited, and what the wait cost in
/// Redis commands (waiters on a node without the near cache poll; with it, the node's invalidation link wakes them).
/// </summary>
internal sealed class FleetStampedeMeasurement(RedisServer server, RcCounters counters, int keys)
{
    public const int Nodes = 3;
    public const int CallersPerNode = 10;

    public static readonly TimeSpan FactoryTime = TimeSpan.FromMilliseconds(300);

    private static readonly TimeSpan WarmDeadline = TimeSpan.FromSeconds(30);

    public static string Header =>
        "| stampede protection | near cache | keys | callers per key | factory runs | per key | most for one key | caller p50 ms | p99 ms | max ms | Redis commands per key | by command | store errors |\n" +
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |";

    public async Task<string> RunAsync(RcStampedeProtection protection, bool nearCache)
    {
        var providers = Enumerable.Range(0, Nodes).Select(_ =>
        {
            var services = new ServiceCollection();
            services.AddRcCache(o =>
            {
                (o.Store, o.Redis, o.Namespace) = (RcStoreKind.Redis, server.EndPoint, "stampede:");
                o.StampedeProtection = protection;
                o.NearCache.Enabled = nearCache;
            });
            return services.BuildServiceProvider();
        }).ToArray();
        try
        {
            var caches = providers.Select(static p => p.GetRequiredService<IRcCache>()).ToArray();
            await WarmAsync(caches, nearCache);

            var runs = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
            Func<string, Func<CancellationToken, ValueTask<int>>> factoryOf = key => async cancellationToken =>
            {
                var run = runs.AddOrUpdate(key, 1, static (_, n) => n + 1);
                await Task.Delay(FactoryTime, cancellationToken);
                return run;
            };

            var errors = counters.StoreErrors;
            await server.ResetStatsAsync();
            var took = new List<double>(keys * Nodes * CallersPerNode);
            var prefix = $"{protection.ToString().ToLowerInvariant()}-{(nearCache ? "near" : "redis")}";
            for (var k = 0; k < keys; k++)
            {
                var key = $"{prefix}-{k}";
                var factory = factoryOf(key);
                var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                var callers = caches.SelectMany(_ => Enumerable.Range(0, CallersPerNode), (cache, _) => Task.Run(async () =>
                {
                    await start.Task;
                    var started = Stopwatch.GetTimestamp();
                    await cache.GetOrSetAsync(key, factory);
                    return Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                })).ToArray();
                start.SetResult();
                took.AddRange(await Task.WhenAll(callers));
            }

            var stats = await server.CommandStatsAsync();
            var latencies = new Latencies(took);
            var total = runs.Values.Sum();
            return string.Create(
                CultureInfo.InvariantCulture,
                $"| {protection} | {(nearCache ? "on" : "off")} | {keys} | {Nodes} × {CallersPerNode} | {total} | {total / (double)keys:0.00} | {runs.Values.DefaultIfEmpty().Max()} | {Latencies.Format(latencies.Percentile(0.5))} | {Latencies.Format(latencies.Percentile(0.99))} | {Latencies.Format(latencies.Max)} | {stats.Values.Sum() / (double)keys:0.0} | {FleetMissMeasurement.ByCommand(stats, keys)} | {counters.StoreErrors - errors} |");
        }
        finally
        {
            foreach (var provider in providers)
            {
                await provider.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// Connects every node before the first stampede (a node's first call would otherwise pay for its connection); with
    /// the near cache, reads one key on every node until a pass over them is answered from memory alone, which shows
    /// that each node's invalidation link is up.
    /// </summary>
    private async Task WarmAsync(IRcCache[] caches, bool nearCache)
    {
        await caches[0].SetAsync("warm", 1, new RcEntryOptions { Expiration = TimeSpan.FromMinutes(5) });
        var waited = Stopwatch.StartNew();
        while (true)
        {
            var before = counters.NearHits;
            foreach (var cache in caches)
            {
                _ = await cache.GetAsync<int?>("warm") ?? throw new InvalidOperationException("The warm-up key was not found.");
            }

            if (!nearCache || counters.NearHits - before == caches.Length)
            {
                return;
            }

            if (waited.Elapsed > WarmDeadline)
            {
                throw new TimeoutException($"The near caches did not answer from memory within {WarmDeadline}.");
            }

            await Task.Delay(100);
        }
    }
}
