using System.Globalization;

namespace RcAspNet.Benchmarks.Coherence;

/// <summary>What one writer's writes to one store showed, as a Markdown table row.</summary>
/// <param name="Latencies">Reply-to-new-read latencies in ms, one per observing node and write, in ascending order.</param>
/// <param name="Unseen">Observations in which the new value never came back within the give-up time.</param>
/// <param name="Warm">Pre-write reads the near cache answered, of <paramref name="Observations"/>.</param>
/// <param name="Misses">Reads that returned nothing (a failed or timed-out read degrades to a miss).</param>
/// <param name="Stale">Reads that returned an older value after the node had seen a newer one.</param>
internal sealed record CoherenceRow(
    string Store, bool NearCache, string Writer, int Writes, double[] Latencies, int Unseen, long Reads, long NearHits,
    long RedisGets, int Warm, int Observations, int Misses, int Stale)
{
    public const string Header =
        "| store | near cache | writer | writes | p50 ms | p99 ms | max ms | not seen in 5 s | reads | near hits | Redis GETs | warm before write | misses | stale after new |\n" +
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |";

    public string ToMarkdown() => string.Create(
        CultureInfo.InvariantCulture,
        $"| {Store} | {(NearCache ? "on" : "off")} | {Writer} | {Writes} | {Percentile(0.50):0.00} | {Percentile(0.99):0.00} | {Percentile(1):0.00} | {Unseen} | {Reads} | {NearHits} | {RedisGets} | {(NearCache ? $"{Warm}/{Observations}" : "-")} | {Misses} | {Stale} |");

    /// <summary>The nearest-rank percentile.</summary>
    private double Percentile(double p) => Latencies.Length == 0 ? double.NaN : Latencies[Math.Max(0, (int)Math.Ceiling(p * Latencies.Length) - 1)];
}
