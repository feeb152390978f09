namespace RcAspNet.Stores;

/// <summary>What a health check found on one shard, and how many removals are kept for it.</summary>
internal readonly record struct ShardStatus(string Shard, bool IsUp, TimeSpan? Latency, string? Error, int PendingRemovals = 0);
