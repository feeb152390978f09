namespace RcAspNet.Stores;

/// <summary>
/// What a health check found on one shard: whether it answered, and whether this node lets calls go to it (its circuit
/// is closed: no failure is being recovered from, no removal is kept for it, its identity is verified).
/// </summary>
internal readonly record struct ShardStatus(string Shard, bool IsUp, TimeSpan? Latency, string? Error, bool Serves = true, int PendingRemovals = 0);
