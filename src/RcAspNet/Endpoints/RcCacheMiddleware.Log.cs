using Microsoft.Extensions.Logging;

namespace RcAspNet.Endpoints;

internal sealed partial class RcCacheMiddleware
{
    [LoggerMessage(EventId = 500, EventName = "RcCachedUnkeyable", Level = LogLevel.Debug,
        Message = "A request to {Endpoint} was not cached: it holds an argument that cannot be keyed exactly as it is bound, or a body its handler reads, or its key is too long.")]
    private static partial void LogUnkeyable(ILogger logger, string endpoint);

    [LoggerMessage(EventId = 501, EventName = "RcCachedSkipped", Level = LogLevel.Warning,
        Message = "A request to {Endpoint} was answered without the cache ({Error}).")]
    private static partial void LogCacheSkipped(ILogger logger, string endpoint, string error);

    [LoggerMessage(EventId = 502, EventName = "RcCachedBeforeAuthorization", Level = LogLevel.Warning,
        Message = "A request to {Endpoint}, which requires authorization, was answered without the cache: UseRcCache() must come after UseAuthorization().")]
    private static partial void LogBeforeAuthorization(ILogger logger, string endpoint);

    [LoggerMessage(EventId = 503, EventName = "RcCachedUnreadableForm", Level = LogLevel.Debug,
        Message = "A request to {Endpoint} was not cached: its form is malformed or past the server's limits, and is the handler's to refuse.")]
    private static partial void LogUnreadableForm(ILogger logger, string endpoint, Exception exception);

    [LoggerMessage(EventId = 504, EventName = "RcCachedBodyTooLarge", Level = LogLevel.Warning,
        Message = "A response of {Endpoint} was sent as it rendered and not stored: its body passed {Limit} bytes (Rc:MaximumValueSize).")]
    private static partial void LogBodyTooLarge(ILogger logger, string endpoint, int limit);
}
