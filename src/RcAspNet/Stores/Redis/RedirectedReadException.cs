using System.Globalization;
using System.Net;
using StackExchange.Redis;

namespace RcAspNet.Stores.Redis;

/// <summary>
/// A read on a cluster that the server it was sent to, a primary whose circuit was checked, did not answer itself: it
/// redirected the key to another server (<c>MOVED</c>, or <c>ASK</c> while the key's slot migrates), or the client
/// cannot say that it was this server that answered. Another server's answer is served only once that server's own
/// circuit was checked (<see cref="RedisCalls.FollowAsync"/>), and is never kept as a near copy: the link never hears of
/// that server's writes. Not a failure: <see cref="RedisCalls"/> lets it through uncounted, and a server that cannot be
/// reached fails the read that follows, which counts it.
/// </summary>
internal sealed class RedirectedReadException(Exception inner, int slot = -1, EndPoint? target = null, bool asking = false)
    : Exception("The server the read was sent to did not answer it itself.", inner)
{
    /// <summary>Gets the hash slot the redirection named; -1 when it could not be read.</summary>
    public int Slot { get; } = slot;

    /// <summary>Gets the server the key was redirected to; null when the redirection did not say (or the client did not know the first server).</summary>
    public EndPoint? Target { get; } = target;

    /// <summary>Gets whether it is an <c>ASK</c>: this read only, while the slot migrates; else the slot moved for good.</summary>
    public bool Asking { get; } = asking;

    /// <summary>
    /// The redirection among the failures of a near read's replies, or null. StackExchange.Redis reports a MOVED that
    /// it was told not to follow (<see cref="CommandFlags.NoRedirect"/>) as a server error, and such an ASK as a failure
    /// to connect (2.8 and 3.x alike), which a server it has no connection to also throws: both are taken as a
    /// redirection, and the ordinary read tells them apart.
    /// </summary>
    public static Exception? RedirectionIn(Task first, Task second) => Redirection(first) ?? Redirection(second);

    /// <summary>
    /// The redirection <paramref name="ex"/> is, or null when it is something else. StackExchange.Redis reports a
    /// <c>MOVED</c> it was told not to follow as a server error ("Key has MOVED to Endpoint host:port and hashslot n"),
    /// and such an <c>ASK</c> as a failure to connect ("Endpoint host:port serving hashslot n is not reachable"), 2.8 and
    /// 3.x alike, and 3.x a redirection to a server it cannot name as "The server redirected ..."; a server it cannot
    /// reach fails otherwise. Without the details in its exceptions, the redirection names no server, and is followed
    /// nowhere.
    /// </summary>
    public static RedirectedReadException? Of(Exception ex) => ex switch
    {
        RedisServerException server when server.Message.StartsWith("MOVED ", StringComparison.Ordinal) || server.Message.StartsWith("ASK ", StringComparison.Ordinal) => Of(server.Message, ex),
        RedisServerException server when server.Message.Contains("MOVED", StringComparison.Ordinal) => Parse(ex, "MOVED to Endpoint ", " and hashslot ", asking: false),

        // 3.x: a redirection to a server the reply names as "?" (no announced hostname).
        RedisServerException server when server.Message.StartsWith("The server redirected", StringComparison.Ordinal) => new RedirectedReadException(ex),
        RedisConnectionException { FailureType: ConnectionFailureType.UnableToConnect } connection when connection.Message.StartsWith("Endpoint ", StringComparison.Ordinal) =>
            Parse(ex, "Endpoint ", " serving hashslot ", asking: true),
        _ => null,
    };

    /// <summary>The redirection a Redis error reply (<c>MOVED slot host:port</c>, <c>ASK slot host:port</c>) is, or null.</summary>
    public static RedirectedReadException? Of(string error, Exception inner)
    {
        var asking = error.StartsWith("ASK ", StringComparison.Ordinal);
        if (!asking && !error.StartsWith("MOVED ", StringComparison.Ordinal))
        {
            return null;
        }

        var parts = error.Split(' ');
        return parts.Length >= 3 && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var slot) && slot < HashSlot.Count
            ? new RedirectedReadException(inner, slot, BlockingRedisClient.ParseEndPoint(parts[2], null), asking)
            : new RedirectedReadException(inner, asking: asking);
    }

    /// <summary>Whether a reply of the library's own RESP client is a redirection.</summary>
    public static bool IsRedirection(RespReply reply) =>
        reply.IsError && reply.Text is { } text && (text.StartsWith("MOVED ", StringComparison.Ordinal) || text.StartsWith("ASK ", StringComparison.Ordinal));

    private static RedirectedReadException Parse(Exception ex, string before, string between, bool asking)
    {
        var message = ex.Message;
        var start = message.IndexOf(before, StringComparison.Ordinal);
        var end = start < 0 ? -1 : message.IndexOf(between, start + before.Length, StringComparison.Ordinal);
        if (end < 0)
        {
            return new RedirectedReadException(ex, asking: asking);
        }

        var digits = end + between.Length;
        var length = 0;
        while (digits + length < message.Length && char.IsAsciiDigit(message[digits + length]))
        {
            length++;
        }

        // The client prints a DnsEndPoint with its address family first: "Unspecified/host:port".
        var text = message[(start + before.Length)..end];
        var target = BlockingRedisClient.ParseEndPoint(text[(text.LastIndexOf('/') + 1)..], null);
        return int.TryParse(message.AsSpan(digits, length), NumberStyles.None, CultureInfo.InvariantCulture, out var slot) && slot < HashSlot.Count && target is not null
            ? new RedirectedReadException(ex, slot, target, asking)
            : new RedirectedReadException(ex, asking: asking);
    }

    private static Exception? Redirection(Task reply) => reply.Exception?.InnerException switch
    {
        RedisServerException server when server.Message.StartsWith("ASK ", StringComparison.Ordinal) || server.Message.Contains("MOVED", StringComparison.Ordinal) => server,
        RedisConnectionException { FailureType: ConnectionFailureType.UnableToConnect } connection => connection,
        _ => null,
    };
}
