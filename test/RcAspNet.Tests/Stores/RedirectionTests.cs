using System.Net;
using RcAspNet.Stores.Redis;
using StackExchange.Redis;

// 3.x marks these exceptions' constructors obsolete in favour of ones that 2.8 lacks; the tests build against both.
#pragma warning disable CS0618

namespace RcAspNet.Tests.Stores;

/// <summary>
/// How a cluster read tells a redirection it was told not to follow from a failure: StackExchange.Redis words each
/// (ResultProcessor, 2.8 and 3.x), and the read follows only a redirection that names the server it must check first.
/// </summary>
public sealed class RedirectionTests
{
    public static TheoryData<Exception, int, string?, bool> Redirections => new()
    {
        { new RedisServerException("Key has MOVED to Endpoint 127.0.0.1:7001 and hashslot 42 but CommandFlags.NoRedirect was specified - redirect not followed for GET k. "), 42, "127.0.0.1:7001", false },
        { new RedisServerException("Key has MOVED to Endpoint Unspecified/redis-2:7001 and hashslot 16383 but CommandFlags.NoRedirect was specified - redirect not followed for GET k. "), 16383, "redis-2:7001", false },
        { new RedisConnectionException(ConnectionFailureType.UnableToConnect, "Endpoint [::1]:7002 serving hashslot 7 is not reachable at this point of time. Please check connectTimeout value."), 7, "[::1]:7002", true },
        { new RedisServerException("MOVED 3999 127.0.0.1:7003"), 3999, "127.0.0.1:7003", false },
        { new RedisServerException("ASK 3999 127.0.0.1:7003"), 3999, "127.0.0.1:7003", true },

        // Without the details in the client's exceptions, or to a server the reply cannot name: followed nowhere.
        { new RedisServerException("Key has MOVED but CommandFlags.NoRedirect was specified - redirect not followed. "), -1, null, false },
        { new RedisConnectionException(ConnectionFailureType.UnableToConnect, "Endpoint is not reachable at this point of time. Please check connectTimeout value."), -1, null, true },
        { new RedisServerException("The server redirected hashslot 5 to '?', which does not identify a node that can be connected to; a topology refresh has been requested. Command: GET k. "), -1, null, false },
    };

    [Theory]
    [MemberData(nameof(Redirections))]
    public void ARedirection_IsReadWithTheServerItNames(Exception reply, int slot, string? target, bool asking)
    {
        var redirection = RedirectedReadException.Of(reply);

        Assert.NotNull(redirection);
        Assert.Equal(slot, redirection.Slot);
        Assert.Equal(target is null ? null : BlockingRedisClient.ParseEndPoint(target, null), redirection.Target);
        Assert.Equal(asking, redirection.Asking);
    }

    [Fact]
    public void AFailure_IsNoRedirection()
    {
        Assert.Null(RedirectedReadException.Of(new RedisConnectionException(ConnectionFailureType.UnableToConnect, "No connection is active/available to service this operation: GET k")));
        Assert.Null(RedirectedReadException.Of(new RedisConnectionException(ConnectionFailureType.SocketFailure, "SocketFailure on 127.0.0.1:7001/Interactive")));
        Assert.Null(RedirectedReadException.Of(new RedisServerException("WRONGTYPE Operation against a key holding the wrong kind of value")));
        Assert.Null(RedirectedReadException.Of(new RedisTimeoutException("Timeout awaiting response", CommandStatus.Sent)));
    }

    [Fact]
    public void AHostname_IsTheEndPointTheSlotMapKnows()
    {
        Assert.Equal(new DnsEndPoint("redis-2", 7001), RedirectedReadException.Of(new RedisServerException($"Key has MOVED to Endpoint {new DnsEndPoint("redis-2", 7001)} and hashslot 1 but ..."))!.Target);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 7001), RedirectedReadException.Of(new RedisServerException($"Key has MOVED to Endpoint {new IPEndPoint(IPAddress.Loopback, 7001)} and hashslot 1 but ..."))!.Target);
    }
}
