using Microsoft.Extensions.Logging;

namespace RcAspNet.Stores.Redis;

internal sealed partial class RemovalDelivery
{
    [LoggerMessage(EventId = 106, EventName = "RcRemovalsDelivered", Level = LogLevel.Information,
        Message = "{Count} removals kept for cache server {Shard} were delivered; it serves again.")]
    private static partial void LogDelivered(ILogger logger, string shard, int count);

    [LoggerMessage(EventId = 108, EventName = "RcServerIdentityChanged", Level = LogLevel.Warning,
        Message = "Cache server {Shard} is not the server it was (it restarted, or took over slots of a cluster) and may lack what it acknowledged: {Count} recent removals are delivered to it again (-1: too many to remember, so it is cleared), and {Members} entries registered lately under its tags are deleted (-1: too many to remember, so every server's namespaces are cleared).")]
    private static partial void LogIdentityChanged(ILogger logger, string shard, int count, int members);
}
