using RcAspNet;

namespace OpenTelemetry.Metrics;

/// <summary>Adds RcAspNet's metrics to an OpenTelemetry meter provider.</summary>
public static class RcMeterProviderBuilderExtensions
{
    /// <summary>
    /// Subscribes the meter provider to RcAspNet's meter (<see cref="RcDiagnostics.MeterName"/>): hits, misses, store
    /// errors and timeouts, circuit changes, operation durations, batch sizes and the near cache's counts.
    /// </summary>
    /// <param name="builder">The meter provider's builder.</param>
    /// <returns>The same builder, for chaining.</returns>
    public static MeterProviderBuilder AddRcInstrumentation(this MeterProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddMeter(RcDiagnostics.MeterName);
    }
}
