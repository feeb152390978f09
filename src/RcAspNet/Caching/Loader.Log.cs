using Microsoft.Extensions.Logging;

namespace RcAspNet.Caching;

internal sealed partial class Loader
{
    [LoggerMessage(EventId = 302, EventName = "RcServedStale", Level = LogLevel.Debug,
        Message = "Cache '{Cache}' served a fail-safe fallback past its freshness ({Reason}).")]
    private static partial void LogServedStale(ILogger logger, string cache, string reason);

    [LoggerMessage(EventId = 303, EventName = "RcFailSafeActivated", Level = LogLevel.Warning,
        Message = "A factory of cache '{Cache}' failed ({Error}); its fail-safe fallback is served, and for {Throttle} before the factory runs again.")]
    private static partial void LogFailSafe(ILogger logger, string cache, string error, TimeSpan throttle);

    [LoggerMessage(EventId = 304, EventName = "RcFactoryTimedOut", Level = LogLevel.Information,
        Message = "A factory of cache '{Cache}' ran past its {Timeout} ({Limit}); it goes on, and its result is stored when it completes.")]
    private static partial void LogFactoryTimedOut(ILogger logger, string cache, string timeout, TimeSpan limit);

    [LoggerMessage(EventId = 305, EventName = "RcRefreshFailed", Level = LogLevel.Warning,
        Message = "A background refresh failed ({Error}); the entry is served until it expires, and refreshed again by a later hit.")]
    private static partial void LogRefreshFailed(ILogger logger, string error);
}
