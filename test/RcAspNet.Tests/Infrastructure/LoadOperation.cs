namespace RcAspNet.Tests.Infrastructure;

/// <summary>One operation of a <see cref="CacheLoad"/>: which call on which key, when it started (a <see cref="System.Diagnostics.Stopwatch"/> timestamp), how long it took and what came back.</summary>
public sealed record LoadOperation(string Call, string Key, long Started, TimeSpan Latency, LoadOutcome Outcome, string? Detail)
{
    /// <summary>Gets the <see cref="System.Diagnostics.Stopwatch"/> timestamp at which the operation returned.</summary>
    public long Ended => Started + (long)(Latency.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);

    public bool Failed => Outcome is LoadOutcome.Stale or LoadOutcome.Miss or LoadOutcome.Foreign or LoadOutcome.Threw;
}
