namespace RcAspNet.Caching;

/// <summary>Where a load's answer came from.</summary>
internal enum LoadOutcome
{
    /// <summary>A fresh entry in the store (written by anyone, this caller's fleet waiting included).</summary>
    Hit,

    /// <summary>The factory, run by this caller or by one it joined in this process.</summary>
    Loaded,

    /// <summary>A fail-safe fallback past its freshness: the factory failed, timed out, or is throttled.</summary>
    Stale,
}
