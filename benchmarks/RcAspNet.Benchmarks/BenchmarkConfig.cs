using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Order;
using Perfolizer.Horology;

namespace RcAspNet.Benchmarks;

/// <summary>
/// The two jobs. Full: sized so that the whole suite (about 150 cases, each in a process of its own with its own
/// redis-server processes) stays under 25 minutes on 2 cores. Short: a few seconds per case, to see that every
/// benchmark runs and roughly where it lands; its numbers are not for judging targets.
/// </summary>
internal static class BenchmarkConfig
{
    public static IConfig Create(bool isShort)
    {
        var job = isShort
            ? Job.Default.WithId("Short").WithLaunchCount(1).WithWarmupCount(2).WithIterationCount(3).WithIterationTime(TimeInterval.FromMilliseconds(150))
            : Job.Default.WithId("Full").WithLaunchCount(1).WithWarmupCount(4).WithIterationCount(12).WithIterationTime(TimeInterval.FromMilliseconds(250));

        return DefaultConfig.Instance
            .AddJob(job.AsDefault())
            .AddColumn(StatisticColumn.Median)
            .WithOrderer(new DefaultOrderer(SummaryOrderPolicy.Declared, MethodOrderPolicy.Declared));
    }
}
