using Microsoft.Extensions.Logging;

namespace RcAspNet.Caching;

internal sealed partial class CacheNamespace
{
    [LoggerMessage(EventId = 200, EventName = "RcValueTooLarge", Level = LogLevel.Warning,
        Message = "A cache value of {Size} bytes was not stored: the limit is {Limit} bytes (Rc:MaximumValueSize).")]
    private static partial void LogValueTooLarge(ILogger logger, int size, int limit);

    [LoggerMessage(EventId = 201, EventName = "RcCorruptEntry", Level = LogLevel.Warning,
        Message = "A cache entry in the {Store} store has a header this version does not know; it is treated as a miss.")]
    private static partial void LogCorruptEntry(ILogger logger, string store);
}
