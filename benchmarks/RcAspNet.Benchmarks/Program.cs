using System.Globalization;
using BenchmarkDotNet.Running;
using RcAspNet.Benchmarks;
using RcAspNet.Benchmarks.Batching;
using RcAspNet.Benchmarks.Coherence;
using RcAspNet.Benchmarks.Diagnosis;
using RcAspNet.Benchmarks.Infrastructure;
using RcAspNet.Benchmarks.Loading;
using RcAspNet.Benchmarks.Tags;

// dotnet run -c Release --project benchmarks/RcAspNet.Benchmarks -- --filter '*'              the full suite
// dotnet run -c Release --project benchmarks/RcAspNet.Benchmarks -- --short --filter '*'      a quick check of every benchmark
// dotnet run -c Release --project benchmarks/RcAspNet.Benchmarks -- --job dry --filter '*'    one invocation of each, a smoke test
// dotnet run -c Release --project benchmarks/RcAspNet.Benchmarks -p:RedisClientVersion=3.4.35 -- --filter '*'   on client 3.4.35
// Every other argument is BenchmarkDotNet's own (--filter, --list flat, --iterationCount 3, --warmupCount 1, ...).
// dotnet run -c Release --project benchmarks/RcAspNet.Benchmarks -- coherence [--writes 1000] [--store redis|sharded|cluster|all]
//   the near cache's coherence, outside BenchmarkDotNet (Coherence/CoherenceCommand.cs)
// dotnet run -c Release --project benchmarks/RcAspNet.Benchmarks -- throughput [--seconds 5] [--rounds 3] [--only raw-get,raw-get-deadline,store-get,ms-get,rc-get,rc-tryget,raw-set,raw-set-deadline,store-set,ms-set,rc-set,raw-fill,rc-fill] [--callers 64] [--allocations true]
//   64 callers (--callers 1: one, sequential) on one Redis, interleaved rounds: ops/s, B/op, CPU/op, and with --allocations the bytes by type (Diagnosis/ThroughputCommand.cs)
// dotnet run -c Release --project benchmarks/RcAspNet.Benchmarks -- batch [--seconds 5] [--rounds 3] [--shards 3] [--only floor,getmany,batch,flush,store,keyspace]
//   BatchBenchmarks' floor, GetManyAsync and IRcBatch rows as a loop of one caller, for a profiler (Batching/BatchLoopCommand.cs)
// dotnet run -c Release --project benchmarks/RcAspNet.Benchmarks -- tags [--members 1000,20000,200000,1000000]
//   what invalidating a tag of many members costs other clients of its server, one in this process, one in another (Tags/BigTagCommand.cs)
// dotnet run -c Release --project benchmarks/RcAspNet.Benchmarks -- loading [--seconds 15] [--misses 1000] [--stampedes 20] [--output docs/results/loading.md]
//   GetOrSetAsync's eager refresh under load (against FusionCache's) and what Fleet stampede protection costs and saves (Loading/LoadingCommand.cs)
// Figures print the same way on every machine ("1,234.5"), as the docs quote them.
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

if (args is ["coherence", .. var coherenceArgs])
{
    Environment.ExitCode = await CoherenceCommand.RunAsync(coherenceArgs);
    return;
}

if (args is ["throughput", .. var throughputArgs])
{
    Environment.ExitCode = await ThroughputCommand.RunAsync(throughputArgs);
    return;
}

if (args is ["batch", .. var batchArgs])
{
    Environment.ExitCode = await BatchLoopCommand.RunAsync(batchArgs);
    return;
}

if (args is ["tags", .. var tagArgs])
{
    Environment.ExitCode = await BigTagCommand.RunAsync(tagArgs);
    return;
}

if (args is ["tags-reader", var readerEndPoint])
{
    Environment.ExitCode = ReaderProcess.Run(readerEndPoint);
    return;
}

if (args is ["loading", .. var loadingArgs])
{
    Environment.ExitCode = await LoadingCommand.RunAsync(loadingArgs);
    return;
}

var isShort = args.Contains("--short", StringComparer.Ordinal);
var jobAt = Array.FindIndex(args, static a => a is "--job" or "-j");
var namedJob = jobAt >= 0 && jobAt + 1 < args.Length ? args[jobAt + 1] : null;
var rest = args.Where((a, i) => a != "--short" && (jobAt < 0 || (i != jobAt && i != jobAt + 1))).ToArray();

Console.WriteLine($"// StackExchange.Redis {RedisClient.Loaded} (built with RedisClientVersion={RedisClient.Requested})");
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(rest, BenchmarkConfig.Create(isShort, namedJob));
