using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Tests.Infrastructure;
using ZiggyCreatures.Caching.Fusion;
using ZiggyCreatures.Caching.Fusion.Serialization.SystemTextJson;

namespace RcAspNet.Benchmarks.Loading;

/// <summary>
/// One hot key with a slow factory and a short lifetime, read by concurrent readers in a loop: how long readers wait
/// when the entry expires, with eager refresh off and on. RcAspNet's <see cref="IRcCache.GetOrSetAsync"/> (near cache
/// off: every read is a GET; near cache on: reads are answered from memory until the entry changes) and FusionCache's
/// <c>GetOrSetAsync</c> (its memory level, with Microsoft's <c>RedisCache</c> as its distributed level), each on the
/// same redis-server. Each reader awaits <c>Task.Delay(1)</c> between reads, so that a cache answering from memory does
/// not spin the two cores that the server, the factory's timers and the refresh share.
/// </summary>
internal sealed class EagerRefreshMeasurement(RedisServer server, RcCounters counters, TimeSpan duration)
{
    public const int Readers = 16;
    public const double EagerThreshold = 0.5;
    public const double SlowRead = 100;

    public static readonly TimeSpan FactoryTime = TimeSpan.FromMilliseconds(200);
    public static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(2);

    public static string Header =>
        "| cache | eager refresh | reads | p50 ms | p99 ms | p99.9 ms | max ms | reads ≥ 100 ms | factory runs | store errors |\n" +
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |";

    public async Task<string> RunRcAsync(bool nearCache, bool eager)
    {
        var services = new ServiceCollection();
        services.AddRcCache(o =>
        {
            (o.Store, o.Redis, o.Namespace) = (RcStoreKind.Redis, server.EndPoint, "eager:");
            o.NearCache.Enabled = nearCache;
        });
        await using var provider = services.BuildServiceProvider();
        var cache = provider.GetRequiredService<IRcCache>();
        var options = new RcEntryOptions { Expiration = Lifetime, EagerRefreshThreshold = eager ? EagerThreshold : 0 };
        var key = $"hot-{(nearCache ? "near" : "redis")}-{(eager ? "eager" : "plain")}";
        var runs = 0;
        Func<CancellationToken, ValueTask<int>> factory = async cancellationToken =>
        {
            var run = Interlocked.Increment(ref runs);
            await Task.Delay(FactoryTime, cancellationToken);
            return run;
        };

        var name = nearCache ? "RcAspNet, near cache on" : "RcAspNet, near cache off";
        return await MeasureAsync(name, eager, () => cache.GetOrSetAsync(key, factory, options), () => Volatile.Read(ref runs));
    }

    public async Task<string> RunFusionCacheAsync(bool eager)
    {
        var entry = new FusionCacheEntryOptions { Duration = Lifetime };
        if (eager)
        {
            entry.EagerRefreshThreshold = (float)EagerThreshold;
        }

        var label = eager ? "eager" : "plain";
        using var distributed = new RedisCache(new RedisCacheOptions { Configuration = $"{server.EndPoint},abortConnect=false", InstanceName = $"fusion-{label}:" });
        using var fusion = new FusionCache(new FusionCacheOptions { CacheName = $"fusion-{label}", DefaultEntryOptions = entry });
        fusion.SetupDistributedCache(distributed, new FusionCacheSystemTextJsonSerializer());
        var runs = 0;
        Func<FusionCacheFactoryExecutionContext<int>, CancellationToken, Task<int>> factory = async (_, cancellationToken) =>
        {
            var run = Interlocked.Increment(ref runs);
            await Task.Delay(FactoryTime, cancellationToken);
            return run;
        };

        return await MeasureAsync(
            "FusionCache over RedisCache",
            eager,
            () => fusion.GetOrSetAsync<int>("hot", factory, default(MaybeValue<int>)),
            () => Volatile.Read(ref runs));
    }

    private async Task<string> MeasureAsync(string name, bool eager, Func<ValueTask<int>> read, Func<int> runs)
    {
        // The first load (and the connection) before the clock starts.
        await read();
        await read();
        var runsBefore = runs();
        var errors = counters.StoreErrors;

        var until = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var readers = Enumerable.Range(0, Readers).Select(_ => Task.Run(async () =>
        {
            var took = new List<double>(32_768);
            while (Stopwatch.GetTimestamp() < until)
            {
                var started = Stopwatch.GetTimestamp();
                await read();
                took.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                await Task.Delay(1);
            }

            return took;
        })).ToArray();
        var latencies = new Latencies((await Task.WhenAll(readers)).SelectMany(static l => l));
        var factoryRuns = runs() - runsBefore;

        // A refresh still running when the readers stop would otherwise outlive its cache.
        await Task.Delay(FactoryTime * 2);
        return string.Create(
            CultureInfo.InvariantCulture,
            $"| {name} | {(eager ? EagerThreshold.ToString(CultureInfo.InvariantCulture) : "off")} | {latencies.Count:N0} | {Latencies.Format(latencies.Percentile(0.5))} | {Latencies.Format(latencies.Percentile(0.99))} | {Latencies.Format(latencies.Percentile(0.999))} | {Latencies.Format(latencies.Max)} | {latencies.AtLeast(SlowRead)} | {factoryRuns} | {counters.StoreErrors - errors} |");
    }
}
