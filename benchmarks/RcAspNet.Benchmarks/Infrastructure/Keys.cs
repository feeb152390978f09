namespace RcAspNet.Benchmarks.Infrastructure;

/// <summary>Key prefixes of equal length, so that no contender sends longer keys than another.</summary>
internal static class Keys
{
    /// <summary>RcAspNet's namespace.</summary>
    public const string RcNamespace = "rc:";

    /// <summary>The raw client's keys.</summary>
    public const string Raw = "rw:";

    /// <summary>The InstanceName of Microsoft's RedisCache.</summary>
    public const string Microsoft = "ms:";
}
