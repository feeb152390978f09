using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;

namespace RcAspNet.Endpoints;

/// <summary>
/// Serves the endpoints that carry <see cref="RcCachedAttribute"/> (or <c>.CacheResult()</c>), added by
/// <c>app.UseRcCache()</c>. For a GET or HEAD request it builds the key from the endpoint's policy and the request
/// alone, before the handler's parameters are bound, and answers a hit with one store read; a miss runs the rest of
/// the pipeline with the response body buffered, stores the response when it is a shareable success, and writes it.
/// A stored response carries its entity tag, and a request whose <c>If-None-Match</c> matches it gets 304.
/// Concurrent misses of one key run the handler once, and share its answer only when it is stored (or is an error
/// anyone would get). A store failure answers the request as if it were not cached.
/// </summary>
internal sealed partial class RcCacheMiddleware(RequestDelegate next, CachedEndpointPolicies policies, ILogger<RcCacheMiddleware> logger)
{
    // What AuthorizationMiddleware leaves in HttpContext.Items once it has authorized the endpoint.
    private const string AuthorizationRan = "__AuthorizationMiddlewareWithEndpointInvoked";

    public Task InvokeAsync(HttpContext http)
    {
        var method = http.Request.Method;
        if (http.GetEndpoint() is not { } endpoint
            || (!HttpMethods.IsGet(method) && !HttpMethods.IsHead(method))
            || policies.For(endpoint) is not { } policy)
        {
            return next(http);
        }

        if (endpoint.Metadata.GetMetadata<IAuthorizeData>() is not null && endpoint.Metadata.GetMetadata<IAllowAnonymous>() is null && !http.Items.ContainsKey(AuthorizationRan))
        {
            // UseRcCache() comes before UseAuthorization(): a hit would skip the endpoint's authorization.
            LogBeforeAuthorization(logger, policy.Identity);
            return next(http);
        }

        return ServeAsync(http, policy);
    }

    private async Task ServeAsync(HttpContext http, CachedEndpointPolicy policy)
    {
        if (!policy.MayUseCache(http))
        {
            // A user's result is neither served from nor stored in a shared cache unless the endpoint opted in.
            SetStatus(http, policy, "MISS");
            await next(http).ConfigureAwait(false);
            return;
        }

        if (policy.ReadsForm && http.Request.HasFormContentType)
        {
            await http.Request.ReadFormAsync(http.RequestAborted).ConfigureAwait(false);
        }

        if (!policy.TryBuildKey(http, out var key, out var entryOptions))
        {
            LogUnkeyable(logger, policy.Identity);
            SetStatus(http, policy, "MISS");
            await next(http).ConfigureAwait(false);
            return;
        }

        // A HEAD request's handler may write no body: what it renders is answered, never stored.
        var storable = !HttpMethods.IsHead(http.Request.Method);
        CachedResponse? rendered = null;
        CachedResponse response;
        try
        {
            // No request token: the handler of a miss runs on this request's HttpContext, so this request waits for it.
            // What is stored is decided once, as the miss renders: an entry carries its entity tag, any other answer none.
            response = await policy.Cache.GetOrSetCoreAsync(
                key,
                async _ =>
                {
                    var answer = await RenderAsync(http).ConfigureAwait(false);
                    rendered = storable && answer.StatusCode is >= 200 and < 300 && answer.IsShareable && !policy.IsBypassBody(answer.Body.Span)
                        ? answer.AsEntry(http.Response.Headers.ETag.Count == 1 ? http.Response.Headers.ETag.ToString() : null)
                        : answer;
                    return rendered;
                },
                entryOptions,
                static r => r.EntityTag is null ? null : r.Encode(),
                CachedResponse.TryDecode,
                CancellationToken.None).ConfigureAwait(false);
        }
        catch (RcCacheException ex)
        {
            LogCacheSkipped(logger, policy.Identity, ex.GetType().Name);
            SetStatus(http, policy, "MISS");
            if (rendered is not null)
            {
                await rendered.ExecuteAsync(http).ConfigureAwait(false);
            }
            else
            {
                await next(http).ConfigureAwait(false);
            }

            return;
        }

        if (rendered is null && response.EntityTag is null)
        {
            // This request joined another's miss whose answer is not stored: it was made for that request (it sets a
            // cookie, is private or no-store, or is not a success). An error anyone would get is shared, labelled MISS;
            // anything else, this request renders for itself.
            SetStatus(http, policy, "MISS");
            if (response.StatusCode >= 400 && response.IsShareable)
            {
                await response.ExecuteAsync(http).ConfigureAwait(false);
            }
            else
            {
                await next(http).ConfigureAwait(false);
            }

            return;
        }

        SetStatus(http, policy, rendered is null ? "HIT" : "MISS");
        await response.ExecuteAsync(http).ConfigureAwait(false);
    }

    /// <summary>Runs the rest of the pipeline with the response body in a buffer, and returns what it rendered.</summary>
    private async Task<CachedResponse> RenderAsync(HttpContext http)
    {
        var body = http.Features.GetRequiredFeature<IHttpResponseBodyFeature>();
        var buffer = new MemoryStream();
        http.Features.Set<IHttpResponseBodyFeature>(new StreamResponseBodyFeature(buffer));
        try
        {
            await next(http).ConfigureAwait(false);
        }
        finally
        {
            http.Features.Set(body);
        }

        var headers = http.Response.Headers;
        return new CachedResponse(http.Response.StatusCode, http.Response.ContentType, buffer.GetBuffer().AsMemory(0, (int)buffer.Length))
        {
            // A response that sets a cookie, is encoded, or says it must not be stored, is a personal or special one.
            IsShareable = !headers.ContainsKey(HeaderNames.SetCookie) && !headers.ContainsKey(HeaderNames.ContentEncoding)
                && !headers.CacheControl.ToString().Contains("no-store", StringComparison.OrdinalIgnoreCase)
                && !headers.CacheControl.ToString().Contains("private", StringComparison.OrdinalIgnoreCase),
        };
    }

    private static void SetStatus(HttpContext http, CachedEndpointPolicy policy, string status)
    {
        if (policy.StatusHeader is { } header && !http.Response.HasStarted)
        {
            http.Response.Headers[header] = status;
        }
    }
}
