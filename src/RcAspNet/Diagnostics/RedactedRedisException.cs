using StackExchange.Redis;

namespace RcAspNet.Diagnostics;

/// <summary>
/// What is logged at Information and above in place of a failure of StackExchange.Redis, whose messages name the command
/// and its key ("No connection is active/available to service this operation: GET key"; a timeout's "next: GET key"):
/// its types, its kind of connection failure, and where it was thrown, without its messages.
/// </summary>
internal sealed class RedactedRedisException(Exception failure) : Exception(Describe(failure))
{
    /// <summary>Whether <paramref name="exception"/>, or one it holds, is StackExchange.Redis's.</summary>
    public static bool IsRedis(Exception exception) => exception switch
    {
        RedisException => true,
        AggregateException aggregate => aggregate.InnerExceptions.Any(IsRedis),
        _ => exception.InnerException is { } inner && IsRedis(inner),
    };

    private static string Describe(Exception failure)
    {
        var kinds = new List<string>();
        for (Exception? e = failure; e is not null; e = e.InnerException)
        {
            kinds.Add(e is RedisConnectionException connection ? $"{e.GetType().Name} ({connection.FailureType})" : e.GetType().Name);
        }

        return $"{string.Join(" <- ", kinds)}; its message is left out, since StackExchange.Redis names keys in it.{Environment.NewLine}{failure.StackTrace}";
    }
}
