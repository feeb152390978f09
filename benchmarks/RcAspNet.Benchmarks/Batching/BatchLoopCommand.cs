using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Benchmarks.Diagnosis;
using RcAspNet.Benchmarks.Infrastructure;
using RcAspNet.Caching;

namespace RcAspNet.Benchmarks.Batching;

/// <summary>
/// <see cref="BatchBenchmarks"/>' rows as a loop of one caller for a fixed time, interleaved over rounds, outside
/// BenchmarkDotNet, so that a profiler (<c>perf record -g -- dotnet RcAspNet.Benchmarks.dll batch --only getmany
/// --seconds 20</c>) can watch one row's steady state: µs per operation, this process's CPU µs per operation, and the
/// bytes every thread allocated per operation.
/// </summary>
internal static class BatchLoopCommand
{
    public static async Task<int> RunAsync(string[] args)
    {
        if (CommandOptions.Parse(args, "batch [--seconds 5] [--rounds 3] [--shards 1|3] [--only floor,getmany,batch,flush,store,keyspace] [--allocations true]", "--seconds", "--rounds", "--shards", "--only", "--allocations") is not { } options)
        {
            return 2;
        }

        var seconds = options.Double("--seconds", 5.0);
        var rounds = Math.Max(1, options.Int("--rounds", 3));
        var shards = options.Int("--shards", 3);
        var only = options.List("--only");
        var allocations = options.Bool("--allocations", false);
        var benchmarks = new BatchBenchmarks { BatchSize = 100, Shards = shards };
        try
        {
            await benchmarks.SetupAsync();
            var (fixture, keys) = benchmarks.State;
            var store = fixture.Services.GetRequiredService<CacheRegistry>().Stores[0];
            var keyspace = ((RcCache)fixture.Typed).Keyspace;
            var namespaced = keys.Select(static k => Keys.RcNamespace + k).ToArray();
            await using var scope = fixture.Services.CreateAsyncScope();
            var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
            var loads = new Stopwatch();
            var flushes = 0L;
            var rows = new (string Name, Func<Task> Operation)[]
            {
                ("floor", () => benchmarks.Raw_MgetPerShardDeserialize()),
                ("getmany", () => benchmarks.Rc_GetMany().AsTask()),
                ("batch", () => benchmarks.Rc_Batch()),

                // For diagnosis: batch without its DI scope (one batch for the whole run, flushed each time), its 100 Loads
                // timed apart; the layers of getmany: the store alone (internal, as ThroughputCommand reaches it), and the
                // namespace's keys with the store's read, without opening or deserializing the entries.
                ("flush", () =>
                {
                    flushes++;
                    return benchmarks.LoadAndFlushAsync(batch, loads);
                }),
                ("store", () => store.GetManyAsync(namespaced, CancellationToken.None).AsTask()),
                ("keyspace", () => keyspace.ReadEntriesAsync(keyspace.Keys(keys), CancellationToken.None).AsTask()),
            };
            rows = [.. rows.Where(r => only is null || only.Contains(r.Name))];
            if (rows.Length == 0)
            {
                Console.Error.WriteLine($"--only {string.Join(',', only!)} names no row: floor, getmany, batch, flush, store, keyspace");
                return 2;
            }

            Console.WriteLine($"// StackExchange.Redis {RedisClient.Loaded}; 100 keys on {shards} shard(s), one caller, {seconds} s per row per round, {rounds} rounds");
            foreach (var (_, operation) in rows)
            {
                await MeasureAsync(operation, TimeSpan.FromSeconds(1)); // warm-up
            }

            var results = rows.ToDictionary(static r => r.Name, static _ => new List<(double Micros, double Cpu, double Bytes)>());
            for (var round = 1; round <= rounds; round++)
            {
                foreach (var (name, operation) in rows)
                {
                    using var sampler = allocations ? new AllocationSampler() : null;
                    var result = await MeasureAsync(operation, TimeSpan.FromSeconds(seconds));
                    results[name].Add(result);
                    Console.WriteLine($"round {round} {name,-8} {result.Micros,8:N1} µs/op {result.Cpu,8:N1} µs CPU/op {result.Bytes,9:N0} B/op");
                    sampler?.Report(seconds * 1e6 / result.Micros);
                }
            }

            if (flushes > 0)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"// flush: its 100 Loads took {loads.Elapsed.TotalMicroseconds / flushes:N1} µs per op (every round and the warm-up)"));
            }

            Console.WriteLine();
            // Each row against the first (the floor, unless --only leaves it out).
            var first = results[rows[0].Name];
            Console.WriteLine($"| row | µs/op (median) | CPU µs/op (median) | B/op (median) | × {rows[0].Name} (median of same-round ratios, lowest–highest) | each round's µs/op |");
            Console.WriteLine("| --- | --- | --- | --- | --- | --- |");
            foreach (var (name, runs) in results)
            {
                var ratio = CommandOptions.SameRoundRatioSpread(runs, first, static r => r.Micros);
                Console.WriteLine($"| {name} | {CommandOptions.Median(runs.Select(static r => r.Micros)):N1} | {CommandOptions.Median(runs.Select(static r => r.Cpu)):N1} | {CommandOptions.Median(runs.Select(static r => r.Bytes)):N0} | {ratio} | {string.Join(", ", runs.Select(static r => r.Micros.ToString("N1", CultureInfo.InvariantCulture)))} |");
            }

            return 0;
        }
        finally
        {
            await benchmarks.CleanupAsync();
        }
    }

    private static async Task<(double Micros, double Cpu, double Bytes)> MeasureAsync(Func<Task> operation, TimeSpan duration)
    {
        long operations = 0;
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration)
        {
            await operation();
            operations++;
        }

        var elapsed = clock.Elapsed;
        var used = Process.GetCurrentProcess().TotalProcessorTime - cpu;
        var bytes = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        operations = Math.Max(1, operations);
        return (elapsed.TotalMicroseconds / operations, used.TotalMicroseconds / operations, (double)bytes / operations);
    }
}
