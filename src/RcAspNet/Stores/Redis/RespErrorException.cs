namespace RcAspNet.Stores.Redis;

/// <summary>An error reply from Redis (<c>-WRONGTYPE ...</c>, <c>-MOVED ...</c>, <c>-OOM ...</c>): the server is up and answered.</summary>
internal sealed class RespErrorException(string message) : Exception(message)
{
}
