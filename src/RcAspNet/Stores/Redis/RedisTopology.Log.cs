using Microsoft.Extensions.Logging;

namespace RcAspNet.Stores.Redis;

internal sealed partial class RedisTopology
{
    [LoggerMessage(EventId = 101, EventName = "RcConnectFailed", Level = LogLevel.Warning,
        Message = "Connecting to cache server {Shard} failed; the next operation tries again.")]
    private static partial void LogConnectFailed(ILogger logger, string shard, Exception exception);
}
