using Microsoft.Extensions.Diagnostics.HealthChecks;
using RcAspNet;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds the RcAspNet health check.</summary>
public static class RcHealthChecksBuilderExtensions
{
    /// <summary>
    /// Adds a check that pings every cache server: <see cref="HealthStatus.Healthy"/> when all answer,
    /// <see cref="HealthStatus.Degraded"/> when some are down (their keys are misses), and
    /// <paramref name="failureStatus"/> (unhealthy by default) when all are down. The data names each shard.
    /// </summary>
    public static IHealthChecksBuilder AddRcHealthCheck(this IHealthChecksBuilder builder, string name = "rc", HealthStatus? failureStatus = null, IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(name);
        return builder.Add(new HealthCheckRegistration(name, static sp => ActivatorUtilities.CreateInstance<RcHealthCheck>(sp), failureStatus, tags));
    }
}
