using System.Globalization;

namespace RcAspNet.Benchmarks.Coherence;

/// <summary>
/// <c>coherence [--writes 1000] [--store redis|sharded|cluster|all]</c>: how soon after another client's write every
/// app node reads the new value with the near cache on (the target: within 50 ms at p99, and never the old value after
/// that), and the same with it off, the read path's floor. Runs outside BenchmarkDotNet, on servers of its own; prints a
/// Markdown table; exits with 1 if any node read an older value after a newer one or never saw a write.
/// </summary>
internal static class CoherenceCommand
{
    public const string Namespace = "coh:";

    private const string Usage = "usage: coherence [--writes 1000] [--store redis|sharded|cluster|all]";

    public static async Task<int> RunAsync(IReadOnlyList<string> args)
    {
        var writes = 1000;
        var stores = CoherenceStore.Names;
        for (var i = 0; i < args.Count; i += 2)
        {
            var value = i + 1 < args.Count ? args[i + 1] : "";
            if (args[i] == "--writes" && int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var count) && count > 0)
            {
                writes = count;
            }
            else if (args[i] == "--store" && (value == "all" || stores.Contains(value)))
            {
                stores = value == "all" ? CoherenceStore.Names : [value];
            }
            else
            {
                await Console.Error.WriteLineAsync(Usage);
                return 2;
            }
        }

        Console.WriteLine($"Near-cache coherence: {writes} writes per row, over 50 keys, on {Environment.ProcessorCount} cores.");
        Console.WriteLine("Latency: from the write's reply to the first read of the new value, per observing node (B for node A's writes; A and B for a foreign SET).");
        Console.WriteLine("Redis GETs: INFO commandstats over the row, which includes StackExchange.Redis's one tie-breaker GET when a node first connects.");
        Console.WriteLine();
        Console.WriteLine(CoherenceRow.Header);
        var failed = false;
        foreach (var name in stores)
        {
            await using var store = await CoherenceStore.StartAsync(name);
            foreach (var nearCache in (bool[])[true, false])
            {
                foreach (var row in await new CoherenceMeasurement(store, nearCache, writes).RunAsync())
                {
                    Console.WriteLine(row.ToMarkdown());
                    failed |= row.Stale > 0 || row.Unseen > 0;
                }
            }
        }

        return failed ? 1 : 0;
    }
}
