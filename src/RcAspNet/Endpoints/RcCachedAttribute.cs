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

    /// <summary>Gets whether these settings come from <c>.CacheResult()</c> on a route or group rather than from the handler.</summary>
    internal bool FromConvention { get; init; }
}
