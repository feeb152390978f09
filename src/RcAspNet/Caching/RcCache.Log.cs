using Microsoft.Extensions.Logging;

namespace RcAspNet.Caching;

internal sealed partial class RcCache
{
    [LoggerMessage(EventId = 300, EventName = "RcUnreadableEntry", Level = LogLevel.Warning,
        Message = "An entry in namespace '{Namespace}' could not be read as {Type} ({Error}); it is treated as a miss.")]
    private static partial void LogUnreadableEntry(ILogger logger, string @namespace, string type, string error);

    [LoggerMessage(EventId = 301, EventName = "RcKeyBypassed", Level = LogLevel.Debug,
        Message = "A key of {Length} characters cannot be cached (empty or over Rc:MaximumKeyLength); the factory ran without the cache.")]
    private static partial void LogKeyBypassed(ILogger logger, int length);

    [LoggerMessage(EventId = 306, EventName = "RcBypassValueNotWritable", Level = LogLevel.Warning,
        Message = "The bypass value {Value} of the cache of namespace '{Namespace}' cannot be written by the registered IRcSerializer ({Serializer}: {Error}): results are compared with its JSON text only, which a serializer that does not write JSON never writes.")]
    private static partial void LogBypassValueNotWritable(ILogger logger, string value, string @namespace, string serializer, string error);
}
