namespace RcAspNet;

/// <summary>
/// Caches what an endpoint handler returns, keyed by its bound arguments (rc's <c>@cache.cache()</c>). The attribute
/// only carries settings: the RcCached filter, added by <c>.CacheResult()</c> on a route, a group or
/// <c>MapControllers()</c>, does the work, for minimal APIs and MVC actions alike. The key is
/// <see cref="RcKey.For"/> of the endpoint's identity and its arguments, so
/// <c>IRcCache.InvalidateAsync(identity, args)</c> removes exactly one entry. The identity is <see cref="KeyPrefix"/>,
/// else the endpoint name (<c>WithName</c>), else <c>Controller.Action</c> for MVC, else method and route pattern.
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
}
