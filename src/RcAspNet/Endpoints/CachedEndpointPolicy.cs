using System.Security.Claims;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
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
    private readonly string[]? _fixedTags;
    private readonly TimeSpan? _expiration;
    private readonly byte[][] _bypassBodies;
    private readonly RcEntryOptions _loading;
    private readonly bool _formatFilter;
    private readonly string? _formatDefault;
    private readonly bool _modelBound;
    private readonly bool _readsBody;

    // Keys are built on the request's thread, one at a time: each thread keeps its builder.
    private const int MostKeyBuilderCapacity = 4096;

    [ThreadStatic]
    private static StringBuilder? t_keyBuilder;

    /// <param name="identity">The first word of every key.</param>
    /// <param name="arguments">The key arguments, in order.</param>
    /// <param name="users">Whose requests the entries serve.</param>
    /// <param name="expiration">The entries' lifetime; null for the cache's default.</param>
    /// <param name="tags">The entries' tags.</param>
    /// <param name="cache">The cache that holds them.</param>
    /// <param name="statusHeader">The header that says HIT, MISS or STALE; empty for none.</param>
    /// <param name="loading">The loading settings the endpoint sets over its cache's (fail-safe, timeouts, eager refresh, stampede protection).</param>
    /// <param name="formatFilter">Whether [FormatFilter] picks the action's representation: a request that names a format bypasses the cache.</param>
    /// <param name="formatDefault">The format the route gives when a request names none (<c>{format=json}</c>): the one representation a request may name and be cached.</param>
    /// <param name="readsBody">Whether the handler binds something from the request's body: a request that carries one bypasses the cache.</param>
    public CachedEndpointPolicy(string identity, KeyArgument[] arguments, RcUserScope users, TimeSpan? expiration, TagTemplate[] tags, RcCache cache, string statusHeader, RcEntryOptions? loading = null, bool formatFilter = false, string? formatDefault = null, bool readsBody = false)
    {
        _readsBody = readsBody;
        _formatFilter = formatFilter;
        _formatDefault = formatDefault;
        _modelBound = arguments.Any(static a => a.ModelBound);
        _loading = loading ?? new RcEntryOptions();
        Identity = identity;
        _arguments = arguments;
        Users = users;
        _expiration = expiration;
        _tags = tags;
        Cache = cache;
        StatusHeader = statusHeader.Length == 0 ? null : statusHeader;
        ReadsForm = arguments.Any(static a => a.Source == ArgumentSource.Form);
        _bypassBodies = [.. cache.BypassTexts];
        EntryOptions = Options();
        Loading = cache.Loader.Resolve(EntryOptions);
        if (tags.All(static t => t.IsFixed))
        {
            _fixedTags = tags.Length == 0 ? null : [.. tags.Select(static t => t.Format([], new StringBuilder()))];
        }
    }

    /// <summary>Gets the options of every entry of this endpoint, made once; a request's tags go apart (<see cref="TryBuildKey"/>).</summary>
    public RcEntryOptions EntryOptions { get; }

    /// <summary>Gets how the endpoint's entries load, resolved once (its tags do not change it).</summary>
    public LoadPolicy Loading { get; }

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
    /// Builds the request's key, <c>RcKey.For(identity, arguments...)</c>, and the tags of the entry it would store
    /// (its other options are <see cref="EntryOptions"/>); false when the request holds an argument the binder might
    /// read otherwise, or the key would be too long.
    /// </summary>
    public bool TryBuildKey(HttpContext http, out string key, out IReadOnlyList<string>? tags)
    {
        var builder = t_keyBuilder ?? new StringBuilder(128);
        t_keyBuilder = null;
        try
        {
            return BuildKey(http, builder.Clear().Append(Identity), out key, out tags);
        }
        finally
        {
            if (builder.Capacity <= MostKeyBuilderCapacity)
            {
                t_keyBuilder = builder;
            }
        }
    }

    private bool BuildKey(HttpContext http, StringBuilder builder, out string key, out IReadOnlyList<string>? tags)
    {
        key = "";
        tags = _fixedTags;
        if (MvcMayAnswerFromElsewhere(http.Request) || (_readsBody && HasBody(http.Request)))
        {
            return false;
        }

        var values = _tags.Length > 0 && _fixedTags is null ? new object?[_arguments.Length] : null;
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
            var made = new string[_tags.Length];
            for (var i = 0; i < made.Length; i++)
            {
                made[i] = _tags[i].Format(values, builder);
            }

            tags = made;
            foreach (var tag in made)
            {
                if (!Cache.IsValidTag(tag))
                {
                    // Made of an argument (a long one, say) that makes no valid tag: answered without the cache, as an
                    // argument that makes no valid key is.
                    return false;
                }
            }
        }

        return Cache.IsValidKey(key);
    }

    /// <summary>
    /// Whether MVC may answer this request from what no key argument reads: a GET's form, which model binding reads
    /// first (for an argument without a named source, through a jQuery-style name, in the request's culture), or the
    /// format a [FormatFilter] picks the representation by, unless it is the route's default: with one, every request
    /// names a format, and those that name the default all get the representation the default picks.
    /// </summary>
    private bool MvcMayAnswerFromElsewhere(HttpRequest request) =>
        (_modelBound && request.HasFormContentType)
        || (_formatFilter && ((request.RouteValues.TryGetValue("format", out var format) && format is not null and not "" && !string.Equals(format as string, _formatDefault, StringComparison.Ordinal))
            || request.Query.ContainsKey("format")));

    /// <summary>
    /// Whether the request carries a body (a GET may: its handler reads it, and no key holds it). One that says its length
    /// is 0 carries none, whatever its framing.
    /// </summary>
    private static bool HasBody(HttpRequest request) =>
        request.ContentLength is not 0
        && (request.HttpContext.Features.Get<IHttpRequestBodyDetectionFeature>() is { } detection
            ? detection.CanHaveBody
            : request.ContentLength > 0 || request.Headers.TransferEncoding.Count > 0);

    private RcEntryOptions Options() => new()
    {
        Expiration = _expiration,
        FailSafeMaxDuration = _loading.FailSafeMaxDuration,
        FailSafeThrottleDuration = _loading.FailSafeThrottleDuration,
        FactorySoftTimeout = _loading.FactorySoftTimeout,
        FactoryHardTimeout = _loading.FactoryHardTimeout,
        EagerRefreshThreshold = _loading.EagerRefreshThreshold,
        StampedeProtection = _loading.StampedeProtection,
    };

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
        var authenticated = user.Identity?.IsAuthenticated == true;
        var id = authenticated ? user.FindFirst(ClaimTypes.NameIdentifier)?.Value ?? user.Identity!.Name : null;
        if (id is null && (authenticated || http.Request.Headers.ContainsKey(HeaderNames.Authorization)))
        {
            // A signed-in user without an identifier (no NameIdentifier or Name claim), or credentials without an
            // authenticated user: a per-user key cannot be made, and the anonymous one is not theirs.
            return false;
        }

        RcKey.Append(key.Append(' '), id);
        return true;
    }
}
