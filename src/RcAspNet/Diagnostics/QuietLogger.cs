using Microsoft.Extensions.Logging;

namespace RcAspNet.Diagnostics;

/// <summary>
/// A logger that never throws. A provider that fails (a full disk, a closed sink) makes the logging framework throw
/// from a log call; the cache logs in the middle of work that must finish, such as keeping a removal that did not reach
/// its server and starting the recovery that delivers it, so a line it cannot write is lost instead. At Information and
/// above, a failure of StackExchange.Redis is logged without its messages, which name keys (<see cref="RedactedRedisException"/>).
/// </summary>
internal sealed class QuietLogger(ILogger inner) : ILogger
{
    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull
    {
        try
        {
            return inner.BeginScope(state);
        }
        catch (Exception)
        {
            return null;
        }
    }

    public bool IsEnabled(LogLevel logLevel)
    {
        try
        {
            return inner.IsEnabled(logLevel);
        }
        catch (Exception)
        {
            return false;
        }
    }

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        try
        {
            var logged = exception is not null && logLevel >= LogLevel.Information && RedactedRedisException.IsRedis(exception) ? new RedactedRedisException(exception) : exception;
            inner.Log(logLevel, eventId, state, logged, formatter);
        }
        catch (Exception)
        {
            // Not written: see the summary.
        }
    }
}
