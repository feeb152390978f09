using Microsoft.Extensions.Logging;

namespace RcAspNet.Endpoints;

internal sealed partial class RcCachedFilter
{
    [LoggerMessage(EventId = 500, EventName = "RcCachedUnkeyable", Level = LogLevel.Debug,
        Message = "A request to {Endpoint} was not cached: {Reason}")]
    private static partial void LogUnkeyable(ILogger logger, string endpoint, string reason);

    [LoggerMessage(EventId = 501, EventName = "RcCachedSkipped", Level = LogLevel.Warning,
        Message = "A request to {Endpoint} was answered without the cache ({Error}).")]
    private static partial void LogCacheSkipped(ILogger logger, string endpoint, string error);
}
