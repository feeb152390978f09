using Microsoft.Extensions.Logging;

namespace RcAspNet.Stores.Redis;

internal sealed partial class RedisTopology
{
    [LoggerMessage(EventId = 101, EventName = "RcConnectFailed", Level = LogLevel.Warning,
        Message = "Connecting to cache server {Shard} failed; the next operation tries again.")]
    private static partial void LogConnectFailed(ILogger logger, string shard, Exception exception);

    [LoggerMessage(EventId = 114, EventName = "RcSeveralServers", Level = LogLevel.Warning,
        Message = "Cache server {Shard} lists {Count} servers that are not a cluster (a primary and its replicas?): a restarted server's identity, which decides whether removals it may have lost are sent again, and the near cache's invalidations are read from the first one listed, {First}. List only the primary.")]
    private static partial void LogSeveralServers(ILogger logger, string shard, int count, string first);

    [LoggerMessage(EventId = 115, EventName = "RcSlotMapCheckFailed", Level = LogLevel.Warning,
        Message = "Following cache server {Shard}'s cluster configuration failed (reading it, or rebuilding the slot map from it); it is tried again within a second.")]
    private static partial void LogSlotMapCheckFailed(ILogger logger, string shard, Exception exception);
}
