using System.Reflection;
using System.Security.Claims;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.Abstractions;
using Microsoft.AspNetCore.Mvc.Controllers;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using RcAspNet.Caching;

namespace RcAspNet.Endpoints;

/// <summary>
/// The endpoint filter behind <see cref="RcCachedAttribute"/>, for minimal APIs and MVC actions alike. Built once
/// per endpoint (where every check that can fail at start-up does), it keys each GET or HEAD request by the
/// endpoint's identity and bound arguments, renders a miss into bytes, stores it when it is a success, and answers a
/// hit with the same status, content type and bytes.
/// </summary>
internal sealed partial class RcCachedFilter
{
    private static readonly HashSet<Type> Contextual =
    [
        typeof(HttpContext), typeof(HttpRequest), typeof(HttpResponse), typeof(ClaimsPrincipal),
    ];

    private static readonly HashSet<Type> NotKeyed =
    [
        typeof(CancellationToken), typeof(IFormFile), typeof(IFormFileCollection), typeof(IFormCollection),
        typeof(Stream), typeof(System.IO.Pipelines.PipeReader),
    ];

    private readonly EndpointFilterDelegate _next;
    private readonly RcCache _cache;
    private readonly RcCachedAttribute _settings;
    private readonly RcEntryOptions _entryOptions;
    private readonly string _identity;
    private readonly int[] _keyArguments;
    private readonly ActionDescriptor? _action;
    private readonly string? _statusHeader;
    private readonly ILogger _logger;
    private RequestKeyReader? _reader;

    private RcCachedFilter(EndpointFilterDelegate next, RcCache cache, RcCachedAttribute settings, string identity, int[] keyArguments, ActionDescriptor? action, string statusHeader, ILogger logger)
    {
        _next = next;
        _cache = cache;
        _settings = settings;
        _entryOptions = new RcEntryOptions { Expiration = settings.Expire > 0 ? TimeSpan.FromSeconds(settings.Expire) : null };
        _identity = identity;
        _keyArguments = keyArguments;
        _action = action;
        _statusHeader = statusHeader.Length == 0 ? null : statusHeader;
        _logger = logger;
    }

    /// <summary>
    /// Builds the filter of one endpoint, or throws naming the endpoint when it can never be cached safely. When the
    /// endpoint's key arguments can be read from the request itself, <paramref name="front"/> is given the filter, to
    /// answer hits before parameter binding.
    /// </summary>
    public static EndpointFilterDelegate Create(EndpointBuilder endpoint, EndpointFilterFactoryContext context, EndpointFilterDelegate next, RcCachedFront front)
    {
        var services = context.ApplicationServices;
        var name = endpoint.DisplayName ?? context.MethodInfo.Name;
        var registry = services.GetService<CacheRegistry>()
            ?? throw new InvalidOperationException($"Endpoint '{name}' caches its results, but RcAspNet is not registered: call services.AddRcCache(...).");
        var settings = endpoint.Metadata.OfType<RcCachedAttribute>().LastOrDefault() ?? new RcCachedAttribute();
        var methods = endpoint.Metadata.OfType<IHttpMethodMetadata>().LastOrDefault()?.HttpMethods;
        if (methods is { Count: > 0 } && !methods.Any(static m => HttpMethods.IsGet(m) || HttpMethods.IsHead(m)))
        {
            return context.MethodInfo.GetCustomAttribute<RcCachedAttribute>() is null
                ? next
                : throw new InvalidOperationException($"Endpoint '{name}' has [RcCached] but answers only {string.Join(", ", methods)}: only GET and HEAD requests are cached.");
        }

        CheckReturnType(name, context.MethodInfo.ReturnType);
        var keyArguments = KeyArguments(name, context.MethodInfo, settings, services.GetService<IServiceProviderIsService>());
        var cache = settings.Cache is null ? registry.Default : registry.Get(settings.Cache);
        var action = endpoint.Metadata.OfType<ActionDescriptor>().LastOrDefault();
        var options = services.GetRequiredService<IOptions<RcOptions>>().Value;
        var filter = new RcCachedFilter(next, cache, settings, Identity(endpoint, settings, methods, action), keyArguments, action, options.CacheStatusHeader, services.GetRequiredService<ILoggerFactory>().CreateLogger<RcCachedFilter>());
        if (action is null && RequestKeyReader.Create(context.MethodInfo, keyArguments, (endpoint as RouteEndpointBuilder)?.RoutePattern) is { } reader)
        {
            filter._reader = reader;
            front.Filter = filter;
        }

        return filter.InvokeAsync;
    }

    private async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context)
    {
        var http = context.HttpContext;
        if (!HttpMethods.IsGet(http.Request.Method) && !HttpMethods.IsHead(http.Request.Method))
        {
            return await _next(context).ConfigureAwait(false);
        }

        if (!MayUseCache(http))
        {
            // A user's result is neither served from nor stored in a shared cache unless the endpoint opted in.
            SetStatus(http, "MISS");
            return await _next(context).ConfigureAwait(false);
        }

        string? key;
        try
        {
            key = Key(context);
        }
        catch (ArgumentException ex)
        {
            LogUnkeyable(_logger, _identity, ex.Message);
            key = null;
        }

        if (key is null)
        {
            SetStatus(http, "MISS");
            return await _next(context).ConfigureAwait(false);
        }

        CachedResponse? rendered = null;
        try
        {
            var response = await _cache.GetOrSetCoreAsync(
                key,
                async _ => rendered = await RenderAsync(await _next(context).ConfigureAwait(false), http).ConfigureAwait(false),
                _entryOptions,
                Encode,
                static (ReadOnlySpan<byte> bytes, out CachedResponse? response) => CachedResponse.TryDecode(bytes, out response),
                http.RequestAborted,
                knownMiss: http.Items.TryGetValue(KnownMiss, out var missed) && key.Equals(missed as string, StringComparison.Ordinal)).ConfigureAwait(false);
            SetStatus(http, rendered is null ? "HIT" : "MISS");
            return response;
        }
        catch (Exception ex) when (ex is RcCacheException || (ex is OperationCanceledException && !http.RequestAborted.IsCancellationRequested))
        {
            // The cache failed, or a request whose handler run this one was sharing went away: answer uncached.
            LogCacheSkipped(_logger, _identity, ex.GetType().Name);
            SetStatus(http, "MISS");
            return rendered ?? await _next(context).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Answers a hit before parameter binding, from arguments read off the request; false to let the request go on to
    /// binding and the filter (a miss, or a request this path does not vouch for).
    /// </summary>
    public async ValueTask<bool> TryAnswerAsync(HttpContext http)
    {
        if ((!HttpMethods.IsGet(http.Request.Method) && !HttpMethods.IsHead(http.Request.Method)) || !MayUseCache(http))
        {
            return false;
        }

        var key = new StringBuilder(_identity);
        if (!_reader!.TryAppend(http, key) || !TryAppendUser(http, key) || !_cache.Keyspace.IsValidKey(key.ToString()))
        {
            return false;
        }

        var text = key.ToString();
        try
        {
            // No request token: the read is bounded by Rc:OperationTimeout, and an uncancellable read shares the
            // store's deadline tokens instead of arming a timer of its own.
            if (await _cache.Keyspace.GetAsync(text, CancellationToken.None).ConfigureAwait(false) is { } bytes && CachedResponse.TryDecode(bytes, out var response))
            {
                SetStatus(http, "HIT");
                await response!.ExecuteAsync(http).ConfigureAwait(false);
                return true;
            }
        }
        catch (RcCacheException)
        {
            return false;
        }

        // The filter will find the same key: it need not read it again.
        http.Items[KnownMiss] = text;
        return false;
    }

    private static readonly object KnownMiss = new();

    private bool MayUseCache(HttpContext http) =>
        _settings.VaryByUser || _settings.Public || (http.User.Identity?.IsAuthenticated != true && !http.Request.Headers.ContainsKey(HeaderNames.Authorization));

    private bool TryAppendUser(HttpContext http, StringBuilder key)
    {
        if (!_settings.VaryByUser)
        {
            return true;
        }

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

    private string? Key(EndpointFilterInvocationContext context)
    {
        var key = new StringBuilder(_identity);
        foreach (var index in _keyArguments)
        {
            RcKey.Append(key.Append(' '), context.Arguments[index]);
        }

        return TryAppendUser(context.HttpContext, key) ? key.ToString() : null;
    }

    private byte[]? Encode(CachedResponse response) =>
        response.StatusCode is >= 200 and < 300 && !response.SetsCookie && !_cache.IsBypassBody(response.Body.Span) ? response.Encode() : null;

    /// <summary>Executes the handler's result into a buffer, as the framework would have written it.</summary>
    private async Task<CachedResponse> RenderAsync(object? result, HttpContext http)
    {
        var bodyFeature = http.Features.GetRequiredFeature<IHttpResponseBodyFeature>();
        using var buffer = new MemoryStream();
        http.Features.Set<IHttpResponseBodyFeature>(new StreamResponseBodyFeature(buffer));
        try
        {
            await ExecuteAsync(result, http).ConfigureAwait(false);
        }
        finally
        {
            http.Features.Set(bodyFeature);
        }

        return new CachedResponse(http.Response.StatusCode, http.Response.ContentType, buffer.ToArray())
        {
            SetsCookie = http.Response.Headers.ContainsKey(HeaderNames.SetCookie),
        };
    }

    private Task ExecuteAsync(object? result, HttpContext http)
    {
        if (_action is not null)
        {
            var actionResult = result as IActionResult ?? (result is IResult r ? new HttpResultAction(r) : new ObjectResult(result));
            return actionResult.ExecuteResultAsync(new ActionContext(http, http.GetRouteData(), _action));
        }

        switch (result)
        {
            case IResult r:
                return r.ExecuteAsync(http);
            case string text:
                http.Response.ContentType = "text/plain; charset=utf-8";
                return http.Response.WriteAsync(text);
            default:
                return http.Response.WriteAsJsonAsync(result, result?.GetType() ?? typeof(object));
        }
    }

    private void SetStatus(HttpContext http, string status)
    {
        if (_statusHeader is not null && !http.Response.HasStarted)
        {
            http.Response.Headers[_statusHeader] = status;
        }
    }

    private static string Identity(EndpointBuilder endpoint, RcCachedAttribute settings, IReadOnlyList<string>? methods, ActionDescriptor? action)
    {
        var identity = settings.KeyPrefix
            ?? endpoint.Metadata.OfType<IEndpointNameMetadata>().LastOrDefault()?.EndpointName
            ?? (action is ControllerActionDescriptor controller ? $"{controller.ControllerName}.{controller.ActionName}" : null)
            ?? $"{(methods is { Count: > 0 } ? string.Join(",", methods) : "*")}:{(endpoint as RouteEndpointBuilder)?.RoutePattern.RawText ?? endpoint.DisplayName}";
        return new string(identity.Select(static c => char.IsWhiteSpace(c) ? '_' : c).ToArray());
    }

    private static void CheckReturnType(string endpoint, Type declared)
    {
        var type = declared;
        if (type.IsGenericType && (type.GetGenericTypeDefinition() == typeof(Task<>) || type.GetGenericTypeDefinition() == typeof(ValueTask<>)))
        {
            type = type.GetGenericArguments()[0];
        }

        if (!CanCarryData(type))
        {
            throw new InvalidOperationException(
                $"Endpoint '{endpoint}' cannot be cached: its handler returns {declared.Name}, which never carries a cacheable result. Remove [RcCached] or .CacheResult() from it.");
        }
    }

    private static bool CanCarryData(Type type)
    {
        if (type == typeof(void) || type == typeof(Task) || type == typeof(ValueTask) || typeof(Stream).IsAssignableFrom(type)
            || (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(IAsyncEnumerable<>)))
        {
            return false;
        }

        if (type.IsGenericType && type.GetGenericTypeDefinition().FullName?.StartsWith("Microsoft.AspNetCore.Http.HttpResults.Results`", StringComparison.Ordinal) == true)
        {
            return type.GetGenericArguments().Any(CanCarryData);
        }

        if (!typeof(IResult).IsAssignableFrom(type) || type.IsInterface || type.IsAbstract)
        {
            // A value, IResult, IActionResult or ActionResult<T>: decided on what each call returns.
            return true;
        }

        return type == typeof(ContentHttpResult) || type == typeof(Utf8ContentHttpResult)
            || (type.IsGenericType && (type.GetGenericTypeDefinition() == typeof(Ok<>) || type.GetGenericTypeDefinition() == typeof(JsonHttpResult<>)))
            || type.Namespace != typeof(Ok).Namespace;
    }

    private static int[] KeyArguments(string endpoint, MethodInfo method, RcCachedAttribute settings, IServiceProviderIsService? isService)
    {
        var keyed = new List<int>();
        var parameters = method.GetParameters();
        for (var i = 0; i < parameters.Length; i++)
        {
            var parameter = parameters[i];
            var type = parameter.ParameterType;
            if (Contextual.Contains(type))
            {
                if (!settings.VaryByUser && !settings.Public)
                {
                    throw new InvalidOperationException(
                        $"Endpoint '{endpoint}' takes {type.Name} '{parameter.Name}', so its result may depend on the user: set VaryByUser (cache per user) or Public (the same for everyone) on [RcCached].");
                }

                continue;
            }

            if (NotKeyed.Contains(type)
                || parameter.IsDefined(typeof(FromServicesAttribute))
                || parameter.IsDefined(typeof(FromKeyedServicesAttribute))
                || parameter.IsDefined(typeof(FromBodyAttribute))
                || (isService?.IsService(type) == true && !RcKey.IsKeyType(type)))
            {
                continue;
            }

            if (!RcKey.IsKeyType(type))
            {
                throw new InvalidOperationException(
                    $"Endpoint '{endpoint}' cannot be cached: its parameter '{parameter.Name}' of type {type.Name} has no key form. Bind simple values (strings, numbers, dates, enums, Guids, arrays of them), or mark services [FromServices].");
            }

            keyed.Add(i);
        }

        return [.. keyed];
    }

    /// <summary>Runs an <see cref="IResult"/> where MVC expects an <see cref="IActionResult"/>.</summary>
    private sealed class HttpResultAction(IResult result) : IActionResult
    {
        public Task ExecuteResultAsync(ActionContext context) => result.ExecuteAsync(context.HttpContext);
    }
}
