using StackExchange.Redis;

namespace RcAspNet.Stores.Redis;

/// <summary>
/// A near read on a cluster that the server of the near cache's link did not answer itself: it redirected the key to
/// another server (<c>MOVED</c>, or <c>ASK</c> while the key's slot migrates), or the client cannot say that it was
/// this server that answered. Another server's answer must not be kept as a copy: the link never hears of that
/// server's writes. The store abandons the near read and reads the key the ordinary way, which follows the redirection.
/// Not a failure: <see cref="RedisCalls"/> lets it through uncounted, and a server that cannot be reached fails the
/// ordinary read, which counts it.
/// </summary>
internal sealed class RedirectedReadException(Exception inner) : Exception("The server of the near cache's link did not answer the read itself.", inner)
{
    /// <summary>
    /// The redirection among the failures of a near read's replies, or null. StackExchange.Redis reports a MOVED that
    /// it was told not to follow (<see cref="CommandFlags.NoRedirect"/>) as a server error, and such an ASK as a failure
    /// to connect (2.8 and 3.x alike), which a server it has no connection to also throws: both are taken as a
    /// redirection, and the ordinary read tells them apart.
    /// </summary>
    public static Exception? RedirectionIn(Task first, Task second) => Redirection(first) ?? Redirection(second);

    /// <summary>Whether a reply of the library's own RESP client is a redirection.</summary>
    public static bool IsRedirection(RespReply reply) =>
        reply.IsError && reply.Text is { } text && (text.StartsWith("MOVED ", StringComparison.Ordinal) || text.StartsWith("ASK ", StringComparison.Ordinal));

    private static Exception? Redirection(Task reply) => reply.Exception?.InnerException switch
    {
        RedisServerException server when server.Message.StartsWith("ASK ", StringComparison.Ordinal) || server.Message.Contains("MOVED", StringComparison.Ordinal) => server,
        RedisConnectionException { FailureType: ConnectionFailureType.UnableToConnect } connection => connection,
        _ => null,
    };
}
