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
    public int Expire { get; set; }

    /// <summary>Gets or sets the identity of the endpoint in its keys (rc's <c>key_prefix</c>); change it, and every older entry is ignored.</summary>
    public string? KeyPrefix { get; set; }

    /// <summary>
    /// Gets or sets whether requests of an authenticated user are cached per user: the user's identifier
    /// (<c>NameIdentifier</c>, else the name) becomes the last key argument, <see langword="null"/> when anonymous.
    /// </summary>
    public bool VaryByUser { get; set; }

    /// <summary>Gets or sets whether the result is the same for every user, so that authenticated requests share it.</summary>
    public bool Public { get; set; }

    /// <summary>Gets or sets the named cache (<c>Rc:Caches:{name}</c>) that holds the entries; the default cache when unset.</summary>
    public string? Cache { get; set; }

    /// <summary>
    /// Gets or sets the tags of every entry, removed together by <c>IRcCache.InvalidateTagAsync(tag)</c>. A tag may
    /// name a key argument in braces: <c>post:{id}</c> is <c>post:42</c> for the request whose <c>id</c> is 42.
    /// </summary>
    public string[]? Tags { get; set; }

    /// <summary>Gets whether these settings come from <c>.CacheResult()</c> on a route or group rather than from the handler.</summary>
    internal bool FromConvention { get; init; }
}
