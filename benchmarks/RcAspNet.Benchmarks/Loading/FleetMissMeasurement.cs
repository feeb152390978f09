using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Benchmarks.Loading;

/// <summary>
/// What <see cref="RcStampedeProtection.Fleet"/> adds to a miss that nobody else loads: distinct keys missed once each,
/// one after the other, by <see cref="IRcCache.GetOrSetAsync"/> with a factory that returns at once; the Redis commands
/// each miss ran (INFO commandstats, reset before the misses) and how long each took.
/// </summary>
internal sealed class FleetMissMeasurement(RedisServer server, RcCounters counters, int keys)
{
    public const int WarmUpMisses = 20;

    public static string Header =>
        "| stampede protection | misses | Redis commands per miss | by command | mean ms | p50 ms | p99 ms | max ms | store errors |\n" +
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |";

    public async Task<string> RunAsync(RcStampedeProtection protection)
    {
        var services = new ServiceCollection();
        services.AddRcCache(o => (o.Store, o.Redis, o.Namespace) = (RcStoreKind.Redis, server.EndPoint, "miss:"));
        await using var provider = services.BuildServiceProvider();
        var cache = provider.GetRequiredService<IRcCache>();
        var options = new RcEntryOptions { Expiration = TimeSpan.FromMinutes(5), StampedeProtection = protection };
        Func<CancellationToken, ValueTask<int>> factory = static _ => ValueTask.FromResult(1);
        var prefix = protection.ToString().ToLowerInvariant();

        // The connection, and each script's first run, before anything is counted.
        for (var i = 0; i < WarmUpMisses; i++)
        {
            await cache.GetOrSetAsync($"warm-{prefix}-{i}", factory, options);
        }

        var errors = counters.StoreErrors;
        await server.ResetStatsAsync();
        var took = new double[keys];
        for (var i = 0; i < keys; i++)
        {
            var started = Stopwatch.GetTimestamp();
            await cache.GetOrSetAsync($"{prefix}-{i}", factory, options);
            took[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        }

        var stats = await server.CommandStatsAsync();
        var latencies = new Latencies(took);
        return string.Create(
            CultureInfo.InvariantCulture,
            $"| {protection} | {keys:N0} | {stats.Values.Sum() / (double)keys:0.00} | {ByCommand(stats, keys)} | {Latencies.Format(latencies.Mean)} | {Latencies.Format(latencies.Percentile(0.5))} | {Latencies.Format(latencies.Percentile(0.99))} | {Latencies.Format(latencies.Max)} | {counters.StoreErrors - errors} |");
    }

    /// <summary>
    /// Each command's calls per <paramref name="per"/>, the most frequent first: <c>get 2.00, set 2.00, evalsha 1.00</c>;
    /// the <c>|</c> of a subcommand (<c>script|load</c>) escaped for a Markdown table.
    /// </summary>
    public static string ByCommand(Dictionary<string, long> stats, int per) => string.Join(
        ", ",
        stats.Where(static s => s.Value > 0)
            .OrderByDescending(static s => s.Value)
            .ThenBy(static s => s.Key, StringComparer.Ordinal)
            .Select(s => string.Create(CultureInfo.InvariantCulture, $"{s.Key.Replace("|", "\\|", StringComparison.Ordinal)} {s.Value / (double)per:0.00}")));
}
