namespace RcAspNet.Caching;

/// <summary>Where a load's answer came from.</summary>
internal enum LoadOutcome
{
    /// <summary>A fresh entry this caller's own read found in the store.</summary>
    Hit,

    /// <summary>
    /// The load this caller ran or joined in this process: its factory's value, or a fresh one the load read instead of
    /// running it (stored by the fleet's lock holder, or by a load in this process that ended after the caller's read
    /// began or that it could not join).
    /// </summary>
    Loaded,

    /// <summary>A fail-safe fallback past its freshness: the factory failed, timed out, or is throttled.</summary>
    Stale,
}
