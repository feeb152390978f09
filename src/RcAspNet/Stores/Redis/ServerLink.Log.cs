using Microsoft.Extensions.Logging;

namespace RcAspNet.Stores.Redis;

internal sealed partial class ServerLink
{
    [LoggerMessage(EventId = 110, EventName = "RcNearLinkUp", Level = LogLevel.Information,
        Message = "The link to {Server} is up: a restart is noticed at once, and with the near cache, copies of its keys are served from memory.")]
    private static partial void LogLinkUp(ILogger logger, string server);

    [LoggerMessage(EventId = 111, EventName = "RcNearLinkDown", Level = LogLevel.Warning,
        Message = "The link to {Server} is down: the server serves nothing of this node until it is verified, and with the near cache its keys are read from Redis until the link is back.")]
    private static partial void LogLinkDown(ILogger logger, string server);

    [LoggerMessage(EventId = 112, EventName = "RcNearLinkFailed", Level = LogLevel.Debug,
        Message = "The link to {Server} failed ({Error}); it connects again.")]
    private static partial void LogLinkFailed(ILogger logger, string server, string error);
}
