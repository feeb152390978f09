namespace RcAspNet.Stores.Redis;

/// <summary>Bytes that are not RESP: the connection is closed.</summary>
internal sealed class RespProtocolException(string message) : IOException(message)
{
}
