using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Order;
using Perfolizer.Horology;

namespace RcAspNet.Benchmarks;

/// <summary>
/// The two jobs. Full: sized so that the whole suite (188 cases, each in a process of its own with its own
/// redis-server processes, about 6.5 s each) stays near 20 minutes on 2 cores. Short: about 2.5 s per case, to see
/// that every benchmark runs and roughly where it lands; its numbers are not for judging targets.
/// </summary>
internal static class BenchmarkConfig
{
    public static IConfig Create(bool isShort)
    {
        var job = isShort
            ? Job.Default.WithId("Short").WithLaunchCount(1).WithWarmupCount(2).WithIterationCount(3).WithIterationTime(TimeInterval.FromMilliseconds(150))
            : Job.Default.WithId("Full").WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(10).WithIterationTime(TimeInterval.FromMilliseconds(250));

        return DefaultConfig.Instance
            .AddJob(job.AsDefault())
            .AddColumn(StatisticColumn.Median)
            .WithOrderer(new DefaultOrderer(SummaryOrderPolicy.Declared, MethodOrderPolicy.Declared));
    }
}
