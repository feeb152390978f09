namespace RcAspNet.Stores.Redis;

/// <summary>A connection that could not be made within the operation timeout: a slow or unreachable server, not one that stopped answering.</summary>
internal sealed class ConnectTimeoutException(Exception inner) : TimeoutException(inner.Message, inner)
{
}
