using Microsoft.Extensions.Logging;

namespace RcAspNet.Stores.Near;

internal sealed partial class InvalidationLink
{
    [LoggerMessage(EventId = 110, EventName = "RcNearLinkUp", Level = LogLevel.Information,
        Message = "The near cache's invalidation link to {Server} is up: copies of its keys are served from memory.")]
    private static partial void LogLinkUp(ILogger logger, string server);

    [LoggerMessage(EventId = 111, EventName = "RcNearLinkDown", Level = LogLevel.Warning,
        Message = "The near cache's invalidation link to {Server} is down: its keys are read from Redis until it is back.")]
    private static partial void LogLinkDown(ILogger logger, string server);

    [LoggerMessage(EventId = 112, EventName = "RcNearLinkFailed", Level = LogLevel.Debug,
        Message = "The near cache's invalidation link to {Server} failed ({Error}); it connects again.")]
    private static partial void LogLinkFailed(ILogger logger, string server, string error);
}
