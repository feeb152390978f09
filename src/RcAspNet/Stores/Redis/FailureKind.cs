namespace RcAspNet.Stores.Redis;

/// <summary>Why a call to a server failed; its name in telemetry is <see cref="RedisCalls.TagOf"/>.</summary>
internal enum FailureKind
{
    /// <summary>No answer within the operation timeout.</summary>
    Timeout,

    /// <summary>A refused, lost or broken connection.</summary>
    Connection,

    /// <summary>The server answered with an error (out of memory, a command it refuses).</summary>
    Server,

    /// <summary>The server refused this node's user name or password, or its TLS certificate was not accepted.</summary>
    Authentication,

    /// <summary>Not sent: the server's circuit is open, or it already cost the request a timeout.</summary>
    Skipped,

    /// <summary>The key holds another Redis type than a cache entry; read as a miss.</summary>
    ForeignData,
}
