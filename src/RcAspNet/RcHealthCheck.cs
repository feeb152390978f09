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
        var statuses = (await Task.WhenAll(registry.Stores.Select(s => s.CheckHealthAsync(cancellationToken).AsTask())).ConfigureAwait(false))
            .SelectMany(static s => s)
            .ToArray();
        var data = statuses.ToDictionary(
            static s => s.Shard,
            static s => (object)((s.IsUp ? $"up ({s.Latency?.TotalMilliseconds.ToString("0.0", CultureInfo.InvariantCulture)} ms)" : $"down: {s.Error}")
                + (s.Serves ? "" : ", held out of service") + (s.PendingRemovals > 0 ? $", {s.PendingRemovals} removals kept" : "")),
            StringComparer.Ordinal);
        var down = statuses.Count(static s => !s.IsUp);
        var held = statuses.Count(static s => !s.Serves || s.PendingRemovals > 0);
        return down == 0 && held == 0 ? HealthCheckResult.Healthy($"{statuses.Length} cache server(s) up.", data)
            : down == 0 ? HealthCheckResult.Degraded($"{held} of {statuses.Length} cache servers are held out of service until removals kept for them are delivered or they recover; their keys are misses.", data: data)
            : down < statuses.Length ? HealthCheckResult.Degraded($"{down} of {statuses.Length} cache servers down; their keys are misses.", data: data)
            : new HealthCheckResult(context.Registration.FailureStatus, "Every cache server is down; every read is a miss.", data: data);
    }
}
