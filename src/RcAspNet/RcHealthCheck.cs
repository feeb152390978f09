using System.Globalization;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using RcAspNet.Caching;

namespace RcAspNet;

/// <summary>Pings every shard of every configured store: healthy when all answer, degraded when some do, unhealthy when none does.</summary>
internal sealed class RcHealthCheck(CacheRegistry registry) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var statuses = (await Task.WhenAll(registry.Stores.Select(s => s.CheckHealthAsync(cancellationToken).AsTask())).ConfigureAwait(false))
            .SelectMany(static s => s)
            .ToArray();
        var data = statuses.ToDictionary(
            static s => s.Shard,
            static s => (object)(s.IsUp ? $"up ({s.Latency?.TotalMilliseconds.ToString("0.0", CultureInfo.InvariantCulture)} ms)" : $"down: {s.Error}"),
            StringComparer.Ordinal);
        var down = statuses.Count(static s => !s.IsUp);
        return down == 0 ? HealthCheckResult.Healthy($"{statuses.Length} cache server(s) up.", data)
            : down < statuses.Length ? HealthCheckResult.Degraded($"{down} of {statuses.Length} cache servers down; their keys are misses.", data: data)
            : new HealthCheckResult(context.Registration.FailureStatus, "Every cache server is down; every read is a miss.", data: data);
    }
}
