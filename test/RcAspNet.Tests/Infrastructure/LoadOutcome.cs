namespace RcAspNet.Tests.Infrastructure;

/// <summary>What one operation of a <see cref="CacheLoad"/> came back with.</summary>
public enum LoadOutcome
{
    /// <summary>A write returned (a dropped write returns too: the next read tells).</summary>
    Written,

    /// <summary>A read returned the value its worker had just written.</summary>
    Fresh,

    /// <summary>A read returned an older value of the same key: the write before it was dropped or lost.</summary>
    Stale,

    /// <summary>A read returned nothing (a GetOrSet ran its factory).</summary>
    Miss,

    /// <summary>A read returned the value of another key.</summary>
    Foreign,

    /// <summary>The operation threw.</summary>
    Threw,
}
