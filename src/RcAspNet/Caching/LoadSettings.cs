namespace RcAspNet.Caching;

/// <summary>A cache's loading settings: the <c>Rc</c> section's, or a named cache's where it sets its own.</summary>
internal sealed record LoadSettings(TimeSpan? FailSafe, TimeSpan Throttle, TimeSpan? SoftTimeout, TimeSpan? HardTimeout, double? EagerRefresh, RcStampedeProtection Protection)
{
    public static LoadSettings From(RcOptions options) => new(
        options.FailSafe.MaxDuration,
        options.FailSafe.ThrottleDuration,
        options.FactorySoftTimeout,
        options.FactoryHardTimeout,
        options.EagerRefreshThreshold,
        options.StampedeProtection);

    public LoadSettings With(RcNamedCacheOptions cache) => new(
        cache.FailSafe is { } failSafe ? failSafe.MaxDuration : FailSafe,
        cache.FailSafe?.ThrottleDuration ?? Throttle,
        cache.FactorySoftTimeout ?? SoftTimeout,
        cache.FactoryHardTimeout ?? HardTimeout,
        cache.EagerRefreshThreshold ?? EagerRefresh,
        cache.StampedeProtection ?? Protection);

    /// <summary>The policy of one call: its options where it sets them, else these settings.</summary>
    public LoadPolicy Resolve(RcEntryOptions? options)
    {
        if (options is null)
        {
            return Default;
        }

        var policy = new LoadPolicy(
            NotNegative(options.FailSafeMaxDuration ?? FailSafe, nameof(RcEntryOptions.FailSafeMaxDuration)),
            options.FailSafeThrottleDuration ?? Throttle,
            NotNegative(options.FactorySoftTimeout ?? SoftTimeout, nameof(RcEntryOptions.FactorySoftTimeout)),
            NotNegative(options.FactoryHardTimeout ?? HardTimeout, nameof(RcEntryOptions.FactoryHardTimeout)),
            options.EagerRefreshThreshold ?? EagerRefresh ?? 0,
            (options.StampedeProtection ?? Protection) == RcStampedeProtection.Fleet);
        if (options.Expiration is { } expiration && expiration <= TimeSpan.Zero)
        {
            // Checked before the factory runs, whose result could not be stored.
            throw new ArgumentOutOfRangeException(nameof(options), expiration, "RcEntryOptions.Expiration must be positive.");
        }

        if (options.FailSafeThrottleDuration is { } throttle && throttle <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(options), throttle, "RcEntryOptions.FailSafeThrottleDuration must be positive.");
        }

        if (policy.EagerRefresh is < 0 or >= 1 || double.IsNaN(policy.EagerRefresh))
        {
            throw new ArgumentOutOfRangeException(nameof(options), policy.EagerRefresh, "RcEntryOptions.EagerRefreshThreshold must be between 0 and 1 (0 turns eager refresh off; 1 is excluded).");
        }

        return policy;
    }

    private LoadPolicy Default => new(
        FailSafe ?? TimeSpan.Zero,
        Throttle,
        SoftTimeout ?? TimeSpan.Zero,
        HardTimeout ?? TimeSpan.Zero,
        EagerRefresh ?? 0,
        Protection == RcStampedeProtection.Fleet);

    private static TimeSpan NotNegative(TimeSpan? value, string name) => value switch
    {
        null => TimeSpan.Zero,
        { } v when v < TimeSpan.Zero => throw new ArgumentOutOfRangeException(name, v, $"RcEntryOptions.{name} must not be negative (zero turns it off)."),
        { } v => v,
    };
}
