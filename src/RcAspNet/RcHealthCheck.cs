using System.Globalization;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using RcAspNet.Caching;

namespace RcAspNet;

/// <summary>
/// Pings every shard of every configured store: healthy when all answer and serve this node, degraded when some do not
/// answer, or answer but are held out of service (removals are kept for them, or they are being recovered: they serve
/// nothing of this node until then), unhealthy when none answers.
/// </summary>
internal sealed class RcHealthCheck(CacheRegistry registry) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var stores = registry.StoresByCache.ToArray();
        var perStore = await Task.WhenAll(stores.Select(s => s.Store.CheckHealthAsync(cancellationToken).AsTask())).ConfigureAwait(false);
        var statuses = perStore.SelectMany(static s => s).ToArray();

        // Each server under its shard's name (the first store is the default cache's), and a named cache's own store's
        // under the cache's name too: stores of one kind name their servers alike ("redis", "memory", or shard names).
        var data = new Dictionary<string, object>(StringComparer.Ordinal);
        for (var i = 0; i < stores.Length; i++)
        {
            foreach (var s in perStore[i])
            {
                var name = i == 0 ? s.Shard : $"{stores[i].Cache}/{s.Shard}";
                data[name] = (s.IsUp ? $"up ({s.Latency?.TotalMilliseconds.ToString("0.0", CultureInfo.InvariantCulture)} ms)" : $"down: {s.Error}")
                    + (s.Serves ? "" : ", held out of service") + (s.PendingRemovals > 0 ? $", {s.PendingRemovals} removals kept" : "");
            }
        }

        var down = statuses.Count(static s => !s.IsUp);
        var held = statuses.Count(static s => !s.Serves || s.PendingRemovals > 0);
        return down == 0 && held == 0 ? HealthCheckResult.Healthy($"{statuses.Length} cache server(s) up.", data)
            : down == 0 ? HealthCheckResult.Degraded($"{held} of {statuses.Length} cache servers are held out of service until removals kept for them are delivered or they recover; their keys are misses.", data: data)
            : down < statuses.Length ? HealthCheckResult.Degraded($"{down} of {statuses.Length} cache servers down; their keys are misses.", data: data)
            : new HealthCheckResult(context.Registration.FailureStatus, "Every cache server is down; every read is a miss.", data: data);
    }
}
