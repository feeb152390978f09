using RcAspNet;

namespace OpenTelemetry.Trace;

/// <summary>Adds RcAspNet's traces to an OpenTelemetry tracer provider.</summary>
public static class RcTracerProviderBuilderExtensions
{
    /// <summary>
    /// Subscribes the tracer provider to RcAspNet's activity source (<see cref="RcDiagnostics.ActivitySourceName"/>):
    /// one client span per store operation, tagged <c>rc.store</c> and <c>rc.shard</c>, never with a key.
    /// </summary>
    /// <param name="builder">The tracer provider's builder.</param>
    /// <returns>The same builder, for chaining.</returns>
    public static TracerProviderBuilder AddRcInstrumentation(this TracerProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddSource(RcDiagnostics.ActivitySourceName);
    }
}
