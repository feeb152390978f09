namespace RcAspNet.Stores.Redis;

/// <summary>A call that failed, already classified and counted; carries the client's exception. Never leaves <see cref="RedisCalls"/>.</summary>
internal sealed class CallFailedException(FailureKind kind, Exception innerException) : Exception(innerException.Message, innerException)
{
    public FailureKind Kind { get; } = kind;
}
