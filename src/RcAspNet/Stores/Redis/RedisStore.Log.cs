using Microsoft.Extensions.Logging;

namespace RcAspNet.Stores.Redis;

internal sealed partial class RedisStore
{
    [LoggerMessage(EventId = 100, EventName = "RcOperationFailed", Level = LogLevel.Warning,
        Message = "Cache operation {Operation} on {Shard} failed; it is treated as a miss or a dropped write unless FailureMode is Throw.")]
    private static partial void LogOperationFailed(ILogger logger, string shard, string operation, Exception? exception);

    [LoggerMessage(EventId = 101, EventName = "RcConnectFailed", Level = LogLevel.Warning,
        Message = "Connecting to cache server {Shard} failed; the next operation tries again.")]
    private static partial void LogConnectFailed(ILogger logger, string shard, Exception exception);

    [LoggerMessage(EventId = 102, EventName = "RcCircuitChanged", Level = LogLevel.Warning,
        Message = "The circuit of cache server {Shard} is now {State}.")]
    private static partial void LogCircuitChanged(ILogger logger, string shard, string state);

    [LoggerMessage(EventId = 103, EventName = "RcCircuitOpenSkip", Level = LogLevel.Debug,
        Message = "Cache operation {Operation} skipped {Shard}: its circuit is open.")]
    private static partial void LogCircuitOpenSkip(ILogger logger, string shard, string operation);

    [LoggerMessage(EventId = 104, EventName = "RcForeignData", Level = LogLevel.Warning,
        Message = "Cache operation {Operation} on {Shard} found a key holding another Redis type; it is treated as a miss.")]
    private static partial void LogForeignData(ILogger logger, string shard, string operation);
}
