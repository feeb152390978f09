using System.Security.Claims;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;
using RcAspNet.Caching;

namespace RcAspNet.Endpoints;

/// <summary>
/// What one endpoint caches, decided once at start-up (as <c>OutputCacheAttribute.BuildPolicy</c> does): its identity,
/// its key arguments and where each is read, its user rule, its expiration, its tags and its cache. The middleware
/// builds every request's key from this object alone, so there is one way to key an endpoint.
/// </summary>
internal sealed class CachedEndpointPolicy
{
    private readonly KeyArgument[] _arguments;
    private readonly TagTemplate[] _tags;
    private readonly RcEntryOptions? _fixedOptions;
    private readonly TimeSpan? _expiration;
    private readonly byte[][] _bypassBodies;

    public CachedEndpointPolicy(string identity, KeyArgument[] arguments, RcUserScope users, TimeSpan? expiration, TagTemplate[] tags, RcCache cache, string statusHeader)
    {
        Identity = identity;
        _arguments = arguments;
        Users = users;
        _expiration = expiration;
        _tags = tags;
        Cache = cache;
        StatusHeader = statusHeader.Length == 0 ? null : statusHeader;
        ReadsForm = arguments.Any(static a => a.Source == ArgumentSource.Form);
        _bypassBodies = [.. cache.BypassTexts];
        if (tags.All(static t => t.IsFixed))
        {
            _fixedOptions = new RcEntryOptions { Expiration = expiration, Tags = tags.Length == 0 ? null : [.. tags.Select(static t => t.Format([]))] };
        }
    }

    /// <summary>Gets the first word of every key of this endpoint: <c>KeyPrefix</c>, else the endpoint name, else <c>Controller.Action</c>, the page, or method and route.</summary>
    public string Identity { get; }

    public RcUserScope Users { get; }

    public RcCache Cache { get; }

    public string? StatusHeader { get; }

    /// <summary>Gets whether a key argument comes from the form, which must be read before the key is built.</summary>
    public bool ReadsForm { get; }

    /// <summary>
    /// Whether this request may be served from, and stored in, the shared cache: a user's result is neither, unless
    /// the endpoint caches per user or says its result is the same for everyone.
    /// </summary>
    public bool MayUseCache(HttpContext http) =>
        Users != RcUserScope.AnonymousOnly || (http.User.Identity?.IsAuthenticated != true && !http.Request.Headers.ContainsKey(HeaderNames.Authorization));

    /// <summary>
    /// Builds the request's key, <c>RcKey.For(identity, arguments...)</c>, and the options of the entry it would
    /// store; false when the request holds an argument the binder might read otherwise, or the key would be too long.
    /// </summary>
    public bool TryBuildKey(HttpContext http, out string key, out RcEntryOptions? options)
    {
        key = "";
        options = _fixedOptions;
        var values = _fixedOptions is null ? new object?[_arguments.Length] : null;
        var builder = new StringBuilder(Identity, Identity.Length + (16 * _arguments.Length));
        for (var i = 0; i < _arguments.Length; i++)
        {
            if (!_arguments[i].TryRead(http, out var value))
            {
                return false;
            }

            RcKey.Append(builder.Append(' '), value);
            if (values is not null)
            {
                values[i] = value;
            }
        }

        if (Users == RcUserScope.PerUser && !TryAppendUser(http, builder))
        {
            return false;
        }

        key = builder.ToString();
        if (values is not null)
        {
            options = new RcEntryOptions { Expiration = _expiration, Tags = [.. _tags.Select(t => t.Format(values))] };
        }

        return Cache.IsValidKey(key);
    }

    /// <summary>Whether a response body is one of the cache's bypass values (JSON text, in either spacing).</summary>
    public bool IsBypassBody(ReadOnlySpan<byte> body)
    {
        foreach (var bypass in _bypassBodies)
        {
            if (body.SequenceEqual(bypass))
            {
                return true;
            }
        }

        return false;
    }

    private static bool TryAppendUser(HttpContext http, StringBuilder key)
    {
        var user = http.User;
        var id = user.Identity?.IsAuthenticated == true ? user.FindFirst(ClaimTypes.NameIdentifier)?.Value ?? user.Identity.Name : null;
        if (id is null && http.Request.Headers.ContainsKey(HeaderNames.Authorization))
        {
            // The request carries credentials but no authenticated user: a per-user key cannot be made.
            return false;
        }

        RcKey.Append(key.Append(' '), id);
        return true;
    }
}
