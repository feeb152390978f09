using Microsoft.Extensions.Logging;

namespace RcAspNet.Batching;

internal sealed partial class RcBatch
{
    [LoggerMessage(EventId = 400, EventName = "RcBatchStoreFailed", Level = LogLevel.Warning,
        Message = "A batch flush could not use the store; its lookups were answered by their loaders.")]
    private static partial void LogStoreFailed(ILogger logger, Exception exception);
}
