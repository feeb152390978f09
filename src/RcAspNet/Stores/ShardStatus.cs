namespace RcAspNet.Stores;

/// <summary>What a health check found on one shard.</summary>
internal readonly record struct ShardStatus(string Shard, bool IsUp, TimeSpan? Latency, string? Error);
