namespace RcAspNet;

/// <summary>
/// Fail-safe: an entry is kept past its expiry, as a fallback, so that while its source fails (the factory throws or
/// exceeds its soft timeout) the last value is served instead of the failure. Like FusionCache's fail-safe.
/// </summary>
public sealed class RcFailSafeOptions
{
    /// <summary>
    /// Gets or sets how long past its expiry an entry stays readable as a fallback; none: fail-safe is off. The store keeps
    /// the entry that much longer, and its expiry is tracked in its header.
    /// </summary>
    /// <value>The default is none: off.</value>
    public TimeSpan? MaxDuration { get; set; }

    /// <summary>
    /// Gets or sets how long a fallback, once served, is served before the factory is tried again, so that a source that
    /// is down is not hammered.
    /// </summary>
    /// <value>The default is 30 seconds.</value>
    public TimeSpan ThrottleDuration { get; set; } = TimeSpan.FromSeconds(30);
}
