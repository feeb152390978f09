namespace RcAspNet;

/// <summary>
/// A store failure surfaced to the caller because <see cref="RcOptions.FailureMode"/> is <see cref="RcFailureMode.Throw"/>.
/// The inner exception, when there is one, is the client's.
/// </summary>
public sealed class RcCacheException : Exception
{
    /// <summary>Creates the exception.</summary>
    public RcCacheException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public RcCacheException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public RcCacheException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Gets the shard that failed.</summary>
    public string? Shard { get; init; }
}
