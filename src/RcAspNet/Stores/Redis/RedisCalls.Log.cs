using Microsoft.Extensions.Logging;

namespace RcAspNet.Stores.Redis;

internal sealed partial class RedisCalls
{
    [LoggerMessage(EventId = 100, EventName = "RcOperationFailed", Level = LogLevel.Warning,
        Message = "Cache operation {Operation} on {Shard} failed; it is treated as a miss or a dropped write unless FailureMode is Throw.")]
    private static partial void LogOperationFailed(ILogger logger, string shard, string operation, Exception? exception);

    [LoggerMessage(EventId = 103, EventName = "RcCircuitOpenSkip", Level = LogLevel.Debug,
        Message = "Cache operation {Operation} skipped {Shard}: its circuit is open.")]
    private static partial void LogSkipped(ILogger logger, string shard, string operation);

    [LoggerMessage(EventId = 104, EventName = "RcForeignData", Level = LogLevel.Warning,
        Message = "Cache operation {Operation} on {Shard} found a key holding another Redis type; it is treated as a miss.")]
    private static partial void LogForeignData(ILogger logger, string shard, string operation);

    [LoggerMessage(EventId = 113, EventName = "RcAuthenticationFailed", Level = LogLevel.Error,
        Message = "Cache server {Shard} did not let this node in: {Refusal}. Nothing is read from or written to it until it does; check the user, password and TLS settings of its store (User, Password, Ssl, SslHost, Rc:SslCaFile). This is logged once until the server serves again.")]
    private static partial void LogAuthenticationFailed(ILogger logger, string shard, string refusal, Exception exception);

    [LoggerMessage(EventId = 105, EventName = "RcRemovalKept", Level = LogLevel.Warning,
        Message = "Removal {Operation} could not reach {Shard} ({Failure}); it is kept and delivered when the server answers, and this node reads nothing from the server until then.")]
    private static partial void LogRemovalKept(ILogger logger, string shard, string operation, string failure, Exception? exception);
}
