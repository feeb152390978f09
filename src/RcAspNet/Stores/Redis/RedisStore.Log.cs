using Microsoft.Extensions.Logging;

namespace RcAspNet.Stores.Redis;

internal sealed partial class RedisStore
{
    [LoggerMessage(EventId = 102, EventName = "RcCircuitChanged", Level = LogLevel.Warning,
        Message = "The circuit of cache server {Shard} is now {State}.")]
    private static partial void LogCircuitChanged(ILogger logger, string shard, string state);

    [LoggerMessage(EventId = 107, EventName = "RcPendingRemovalsOverflowed", Level = LogLevel.Warning,
        Message = "More than {Limit} removals are kept for cache server {Shard} (Rc:PendingRemovalLimit): they are replaced by a clear of this store's namespaces on it, delivered before it serves again.")]
    private static partial void LogOverflowed(ILogger logger, string shard, int limit);

    [LoggerMessage(EventId = 109, EventName = "RcRecoveryFailed", Level = LogLevel.Debug,
        Message = "Cache server {Shard} is not back yet ({Error}); its recovery is tried again in {WaitMilliseconds} ms.")]
    private static partial void LogRecoveryFailed(ILogger logger, string shard, string error, double waitMilliseconds);
}
