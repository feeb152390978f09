using BenchmarkDotNet.Running;
using RcAspNet.Benchmarks;

// dotnet run -c Release --project benchmarks/RcAspNet.Benchmarks -- --filter '*'          the full suite
// dotnet run -c Release --project benchmarks/RcAspNet.Benchmarks -- --short --filter '*'  a quick check of every benchmark
// Every other argument is BenchmarkDotNet's own (--filter, --list flat, --join, ...).
var isShort = args.Contains("--short", StringComparer.Ordinal);
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(
    args.Where(static a => a != "--short").ToArray(),
    BenchmarkConfig.Create(isShort));
