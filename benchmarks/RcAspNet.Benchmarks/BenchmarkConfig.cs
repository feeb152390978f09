using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Order;
using BenchmarkDotNet.Reports;
using Perfolizer.Horology;
using Perfolizer.Metrology;
using RcAspNet.Benchmarks.Infrastructure;

namespace RcAspNet.Benchmarks;

/// <summary>
/// The job, and what every job gets. Full (the default): 3 warm-up and 10 measured iterations of 250 ms, each case in a
/// process of its own with its own redis-server processes. Short (<c>--short</c>): 2 warm-up and 3 iterations of
/// 150 ms, to see that every benchmark runs and roughly where it lands; its numbers are not for judging targets.
/// <c>--job dry|short|medium|long|default</c> starts from BenchmarkDotNet's job of that name instead (BenchmarkDotNet
/// itself ignores <c>--job</c> once a configuration brings its own default job, so Program reads it here), and
/// <c>--iterationCount</c>, <c>--warmupCount</c> and the like still apply on top.
/// Every job builds the benchmark processes against the client version this host was built with and tells them the
/// version it loaded, which they check; the "Redis client" column shows it. Allocated is in bytes, so that
/// benchmarks/summarize.py can subtract rows.
/// </summary>
internal static class BenchmarkConfig
{
    private static readonly Dictionary<string, Job> NamedJobs = new(StringComparer.OrdinalIgnoreCase)
    {
        ["default"] = Job.Default,
        ["dry"] = Job.Dry,
        ["short"] = Job.ShortRun,
        ["medium"] = Job.MediumRun,
        ["long"] = Job.LongRun,
        ["verylong"] = Job.VeryLongRun,
    };

    public static IConfig Create(bool isShort, string? namedJob)
    {
        Job job;
        if (namedJob is not null)
        {
            job = NamedJobs.TryGetValue(namedJob, out var named)
                ? named
                : throw new ArgumentException($"--job {namedJob}: use one of {string.Join(", ", NamedJobs.Keys)}.", nameof(namedJob));
        }
        else
        {
            job = isShort
                ? Job.Default.WithId("Short").WithLaunchCount(1).WithWarmupCount(2).WithIterationCount(3).WithIterationTime(TimeInterval.FromMilliseconds(150))
                : Job.Default.WithId("Full").WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(10).WithIterationTime(TimeInterval.FromMilliseconds(250));
        }

        job = job
            .WithArguments([new MsBuildArgument($"/p:RedisClientVersion={RedisClient.Requested}")])
            .WithEnvironmentVariable(RedisClient.ExpectedVersionVariable, RedisClient.Loaded);

        return DefaultConfig.Instance
            .AddJob(job.AsDefault())
            .AddColumn(StatisticColumn.Median, BaselineColumn.Default, new RedisClientColumn())
            .WithSummaryStyle(SummaryStyle.Default.WithSizeUnit(SizeUnit.B))
            .WithOrderer(new DefaultOrderer(SummaryOrderPolicy.Declared, MethodOrderPolicy.Declared));
    }
}
