namespace RcAspNet;

/// <summary>The names under which RcAspNet publishes telemetry.</summary>
public static class RcDiagnostics
{
    /// <summary>The name of the <see cref="System.Diagnostics.Metrics.Meter"/>: hits, misses, errors, timeouts, circuit changes, durations, batch sizes.</summary>
    public const string MeterName = "RcAspNet";

    /// <summary>The name of the <see cref="System.Diagnostics.ActivitySource"/> of store operations.</summary>
    public const string ActivitySourceName = "RcAspNet";
}
