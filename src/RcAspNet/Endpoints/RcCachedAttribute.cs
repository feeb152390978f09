namespace RcAspNet;

/// <summary>
/// Caches what an endpoint returns, keyed by its arguments (rc's <c>@cache.cache()</c>): on a minimal-API handler, an
/// MVC action or controller, or a Razor Page, once the app calls <c>app.UseRcCache()</c>. The attribute only carries
/// settings; the middleware does the work. The key is <see cref="RcKey.For"/> of the endpoint's identity and its
/// arguments, so <c>IRcCache.InvalidateAsync(identity, args)</c> removes exactly one entry. The identity is
/// <see cref="KeyPrefix"/>, else the endpoint name (<c>WithName</c>), else <c>Controller.Action</c> for MVC,
/// <c>Page:/Path</c> for a page, else method and route pattern.
/// </summary>
[AttributeUsage(AttributeTargets.Method | AttributeTargets.Class, Inherited = true, AllowMultiple = false)]
public sealed class RcCachedAttribute : Attribute
{
    // Unset loading settings are the cache's: as OutputCacheAttribute does, each public setting has a nullable field.
    private int? _failSafeMaxDurationSeconds;
    private int? _failSafeThrottleDurationSeconds;
    private int? _factorySoftTimeoutMilliseconds;
    private int? _factoryHardTimeoutMilliseconds;
    private double? _eagerRefreshThreshold;
    private RcStampedeProtection? _stampedeProtection;

    /// <summary>Gets or sets the lifetime of an entry, in seconds (rc's <c>expire</c>); 0 for the cache's default expiration.</summary>
    /// <value>The default is 0: the cache's <see cref="RcOptions.DefaultExpiration"/>.</value>
    public int ExpirationSeconds { get; set; }

    /// <summary>Gets or sets the identity of the endpoint in its keys (rc's <c>key_prefix</c>); change it, and every older entry is ignored.</summary>
    /// <value>The default is none: the endpoint name, else <c>Controller.Action</c>, the page, or method and route pattern.</value>
    public string? KeyPrefix { get; set; }

    /// <summary>Gets or sets whose requests the entries serve: anonymous ones only, each user their own, or everyone alike.</summary>
    /// <value>The default is <see cref="RcUserScope.AnonymousOnly"/>.</value>
    public RcUserScope UserScope { get; set; }

    /// <summary>Gets or sets the named cache (<c>Rc:Caches:{name}</c>) that holds the entries.</summary>
    /// <value>The default is none: the default cache.</value>
    public string? Cache { get; set; }

    /// <summary>
    /// Gets or sets the tags of every entry, removed together by <c>IRcCache.InvalidateTagAsync(tag)</c>. A tag may
    /// name a key argument in braces: <c>post:{id}</c> is <c>post:42</c> for the request whose <c>id</c> is 42.
    /// </summary>
    /// <value>The default is none.</value>
    public string[]? Tags { get; set; }

    /// <summary>
    /// Gets or sets how long past its expiry an entry stays a fail-safe fallback, in seconds: while the handler throws or
    /// answers 5xx, the last page is served, marked <c>X-Cache: STALE</c>. 0 turns fail-safe off for this endpoint.
    /// </summary>
    /// <value>The default is the cache's <c>FailSafe:MaxDuration</c>.</value>
    public int FailSafeMaxDurationSeconds
    {
        get => _failSafeMaxDurationSeconds ?? 0;
        set => _failSafeMaxDurationSeconds = value;
    }

    /// <summary>Gets or sets how long, in seconds, a fallback served for a failure is served before the handler runs again.</summary>
    /// <value>The default is the cache's <c>FailSafe:ThrottleDuration</c>.</value>
    public int FailSafeThrottleDurationSeconds
    {
        get => _failSafeThrottleDurationSeconds ?? 0;
        set => _failSafeThrottleDurationSeconds = value;
    }

    /// <summary>
    /// Gets or sets how long, in milliseconds, a request with a fallback waits for the handler; past it, the fallback
    /// answers and the handler finishes in the background. 0 for none.
    /// </summary>
    /// <value>The default is the cache's <c>FactorySoftTimeout</c>.</value>
    public int FactorySoftTimeoutMilliseconds
    {
        get => _factorySoftTimeoutMilliseconds ?? 0;
        set => _factorySoftTimeoutMilliseconds = value;
    }

    /// <summary>Gets or sets how long, in milliseconds, any request waits for the handler at most. 0 for none.</summary>
    /// <value>The default is the cache's <c>FactoryHardTimeout</c>.</value>
    public int FactoryHardTimeoutMilliseconds
    {
        get => _factoryHardTimeoutMilliseconds ?? 0;
        set => _factoryHardTimeoutMilliseconds = value;
    }

    /// <summary>
    /// Gets or sets the fraction of an entry's lifetime after which a hit renders it again in the background, so that a
    /// hot page never makes a reader wait. 0 turns it off.
    /// </summary>
    /// <value>The default is the cache's <c>EagerRefreshThreshold</c>.</value>
    public double EagerRefreshThreshold
    {
        get => _eagerRefreshThreshold ?? 0;
        set => _eagerRefreshThreshold = value;
    }

    /// <summary>Gets or sets who renders a page that many requests miss at once: one per process, or one in the fleet.</summary>
    /// <value>The default is the cache's <c>StampedeProtection</c>.</value>
    public RcStampedeProtection StampedeProtection
    {
        get => _stampedeProtection ?? RcStampedeProtection.Process;
        set => _stampedeProtection = value;
    }

    /// <summary>The loading settings this endpoint sets, over its cache's; problems with them are added to <paramref name="problems"/>.</summary>
    internal RcEntryOptions Loading(List<string> problems)
    {
        NotNegative(problems, nameof(FailSafeMaxDurationSeconds), _failSafeMaxDurationSeconds, "seconds");
        NotNegative(problems, nameof(FactorySoftTimeoutMilliseconds), _factorySoftTimeoutMilliseconds, "milliseconds");
        NotNegative(problems, nameof(FactoryHardTimeoutMilliseconds), _factoryHardTimeoutMilliseconds, "milliseconds");
        if (_failSafeThrottleDurationSeconds <= 0)
        {
            problems.Add($"FailSafeThrottleDurationSeconds is {_failSafeThrottleDurationSeconds}; it is a positive number of seconds.");
        }

        if (_eagerRefreshThreshold is { } threshold && !(threshold >= 0 && threshold < 1))
        {
            problems.Add($"EagerRefreshThreshold is {threshold.ToString(System.Globalization.CultureInfo.InvariantCulture)}; it is a fraction between 0 and 1 (0 turns it off, 1 is excluded).");
        }

        if (_stampedeProtection is { } protection && !Enum.IsDefined(protection))
        {
            problems.Add($"StampedeProtection {(int)protection} is not one of {string.Join(", ", Enum.GetNames<RcStampedeProtection>())}.");
        }

        if (_factorySoftTimeoutMilliseconds > 0 && _factoryHardTimeoutMilliseconds > 0 && _factorySoftTimeoutMilliseconds >= _factoryHardTimeoutMilliseconds)
        {
            problems.Add($"FactorySoftTimeoutMilliseconds ({_factorySoftTimeoutMilliseconds}) is not shorter than FactoryHardTimeoutMilliseconds ({_factoryHardTimeoutMilliseconds}).");
        }

        return new RcEntryOptions
        {
            FailSafeMaxDuration = _failSafeMaxDurationSeconds is { } failSafe ? TimeSpan.FromSeconds(failSafe) : null,
            FailSafeThrottleDuration = _failSafeThrottleDurationSeconds is { } throttle ? TimeSpan.FromSeconds(throttle) : null,
            FactorySoftTimeout = _factorySoftTimeoutMilliseconds is { } soft ? TimeSpan.FromMilliseconds(soft) : null,
            FactoryHardTimeout = _factoryHardTimeoutMilliseconds is { } hard ? TimeSpan.FromMilliseconds(hard) : null,
            EagerRefreshThreshold = _eagerRefreshThreshold,
            StampedeProtection = _stampedeProtection,
        };
    }

    private static void NotNegative(List<string> problems, string name, int? value, string unit)
    {
        if (value < 0)
        {
            problems.Add($"{name} is {value}; it is a number of {unit}, 0 to turn it off.");
        }
    }

    /// <summary>Gets whether these settings come from <c>.CacheResult()</c> on a route or group rather than from the handler.</summary>
    internal bool FromConvention { get; init; }
}
