namespace RcAspNet.Caching;

/// <summary>
/// How one call loads what it misses, resolved from its <see cref="RcEntryOptions"/> over its cache's settings
/// (<see cref="LoadSettings"/>): zero turns a duration or the threshold off.
/// </summary>
/// <param name="FailSafe">How long past its freshness an entry stays a fallback (<c>Rc:FailSafe:MaxDuration</c>).</param>
/// <param name="Throttle">How long a fallback, once served for a failure, is served before the factory is tried again.</param>
/// <param name="SoftTimeout">How long a caller with a fallback waits for the factory.</param>
/// <param name="HardTimeout">How long any caller waits for the factory.</param>
/// <param name="EagerRefresh">The fraction of an entry's lifetime after which a hit refreshes it in the background.</param>
/// <param name="Fleet">Whether one caller in the whole fleet runs the factory for a key.</param>
internal readonly record struct LoadPolicy(TimeSpan FailSafe, TimeSpan Throttle, TimeSpan SoftTimeout, TimeSpan HardTimeout, double EagerRefresh, bool Fleet)
{
    /// <summary>Gets whether entries record when they were written and until when they are fresh (layout <c>03</c>).</summary>
    public bool TracksFreshness => FailSafe > TimeSpan.Zero || EagerRefresh > 0;

    /// <summary>Gets whether the call loads as rc does: no fail-safe, timeout, eager refresh or fleet lock.</summary>
    public bool IsPlain => !TracksFreshness && SoftTimeout == TimeSpan.Zero && HardTimeout == TimeSpan.Zero && !Fleet;

    /// <summary>Gets whether a factory may outlive the caller that started it (a timeout, or a background refresh).</summary>
    public bool MayOutliveCaller => SoftTimeout > TimeSpan.Zero || HardTimeout > TimeSpan.Zero || EagerRefresh > 0;
}
