namespace RcAspNet;

/// <summary>What a store failure (connection lost, timeout, open circuit, server error) does to the caller.</summary>
public enum RcFailureMode
{
    /// <summary>Reads miss and writes are dropped; the failure is logged and counted. A cache failure never fails a request.</summary>
    Degrade,

    /// <summary>The failure surfaces as an exception, for apps that keep state they cannot lose in the cache (session storage).</summary>
    Throw,
}
