using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace RcAspNet.Benchmarks.Infrastructure;

/// <summary>A column with the StackExchange.Redis version every row ran on, so that results of two client versions cannot be mixed up.</summary>
internal sealed class RedisClientColumn : IColumn
{
    public string Id => nameof(RedisClientColumn);

    public string ColumnName => "Redis client";

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Job;

    public int PriorityInCategory => 0;

    public bool IsNumeric => false;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => "StackExchange.Redis version of the benchmark process (-p:RedisClientVersion)";

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => RedisClient.Loaded;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => RedisClient.Loaded;

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public bool IsAvailable(Summary summary) => true;
}
