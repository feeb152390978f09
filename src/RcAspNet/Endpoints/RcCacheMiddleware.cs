using System.Globalization;
using System.Runtime.ExceptionServices;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;
using RcAspNet.Caching;

namespace RcAspNet.Endpoints;

/// <summary>
/// Serves the endpoints that carry <see cref="RcCachedAttribute"/> (or <c>.CacheResult()</c>), added by
/// <c>app.UseRcCache()</c>. For a GET or HEAD request it builds the key from the endpoint's policy and the request
/// alone, before the handler's parameters are bound, and answers a hit with one store read; a miss runs the rest of
/// the pipeline with the response body buffered (up to what may be stored; past that, it is sent as it renders) and,
/// when it is a shareable success, starts the response (so that what its start adds, a cookie, is seen), stores it
/// unless a cookie came, and writes the body.
/// A stored response carries its entity tag, and a request whose <c>If-None-Match</c> matches it gets 304.
/// Concurrent misses of one key run the handler once, and share its answer only when it is stored (or is an error
/// anyone would get). A store failure answers the request as if it were not cached.
/// </summary>
internal sealed partial class RcCacheMiddleware(RequestDelegate next, CachedEndpointPolicies policies, ILogger<RcCacheMiddleware> logger)
{
    // What AuthorizationMiddleware leaves in HttpContext.Items once it has authorized the endpoint.
    private const string AuthorizationRan = "__AuthorizationMiddlewareWithEndpointInvoked";

    // Marks an RcCacheException the handler threw, which is its failure, not the endpoint cache's.
    private const string HandlersOwn = "RcAspNet.HandlersOwn";

    private Task<bool>? _fallbackPolicy;

    public Task InvokeAsync(HttpContext http)
    {
        var method = http.Request.Method;
        if (http.GetEndpoint() is not { } endpoint
            || (!HttpMethods.IsGet(method) && !HttpMethods.IsHead(method))
            || policies.For(endpoint) is not { } policy)
        {
            return next(http);
        }

        if (endpoint.Metadata.GetMetadata<IAllowAnonymous>() is null)
        {
            // Authorization the endpoint requires, or the app's fallback policy, must have run before a hit is served.
            if (endpoint.Metadata.GetMetadata<IAuthorizeData>() is not null
                || endpoint.Metadata.GetMetadata<IAuthorizationRequirementData>() is not null
                || endpoint.Metadata.GetMetadata<AuthorizationPolicy>() is not null)
            {
                if (!http.Items.ContainsKey(AuthorizationRan))
                {
                    return BeforeAuthorization(http, policy);
                }
            }
            else if (FallbackPolicy(http) is var fallback && (!fallback.IsCompletedSuccessfully || fallback.Result) && !http.Items.ContainsKey(AuthorizationRan))
            {
                return AfterFallbackAsync(http, policy, fallback);
            }
        }

        return ServeAsync(http, policy);
    }

    /// <summary>UseRcCache() comes before UseAuthorization(): a hit would skip the endpoint's authorization.</summary>
    private Task BeforeAuthorization(HttpContext http, CachedEndpointPolicy policy)
    {
        LogBeforeAuthorization(logger, policy.Identity);
        return next(http);
    }

    /// <summary>Whether the app authorizes every endpoint that says nothing of it (a fallback policy), read once.</summary>
    private Task<bool> FallbackPolicy(HttpContext http)
    {
        if (_fallbackPolicy is { } known)
        {
            return known;
        }

        var asked = http.RequestServices.GetService<IAuthorizationPolicyProvider>() is { } provider ? HasFallbackPolicyAsync(provider) : Task.FromResult(false);
        if (asked.IsCompletedSuccessfully)
        {
            // Kept once known; a provider that fails is asked again by the next request.
            _fallbackPolicy = asked;
        }

        return asked;
    }

    private static async Task<bool> HasFallbackPolicyAsync(IAuthorizationPolicyProvider provider) =>
        await provider.GetFallbackPolicyAsync().ConfigureAwait(false) is not null;

    private async Task AfterFallbackAsync(HttpContext http, CachedEndpointPolicy policy, Task<bool> fallback)
    {
        var authorizes = await fallback.ConfigureAwait(false);
        _fallbackPolicy = fallback;
        await (authorizes ? BeforeAuthorization(http, policy) : ServeAsync(http, policy)).ConfigureAwait(false);
    }

    private async Task ServeAsync(HttpContext http, CachedEndpointPolicy policy)
    {
        if (!policy.MayUseCache(http) || http.Request.Headers.ContainsKey(HeaderNames.Range))
        {
            // A user's result is neither served from nor stored in a shared cache unless the endpoint opted in; a
            // request for part of a representation is answered by the handler, whose range processing it is.
            SetStatus(http, policy, "MISS");
            await next(http).ConfigureAwait(false);
            return;
        }

        if (policy.ReadsForm && http.Request.HasFormContentType)
        {
            try
            {
                await http.Request.ReadFormAsync(http.RequestAborted).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is InvalidDataException or IOException)
            {
                // A form past the server's limits, or malformed: the handler's model binding answers it (400), uncached.
                LogUnreadableForm(logger, policy.Identity, ex);
                SetStatus(http, policy, "MISS");
                await next(http).ConfigureAwait(false);
                return;
            }
        }

        if (!policy.TryBuildKey(http, out var key, out var tags))
        {
            LogUnkeyable(logger, policy.Identity);
            SetStatus(http, policy, "MISS");
            await next(http).ConfigureAwait(false);
            return;
        }

        // A HEAD request's handler may write no body: what it renders is answered, never stored.
        var storable = !HttpMethods.IsHead(http.Request.Method);

        // A handler that may outlive this request (a timeout lets it go with a fallback, or a hit refreshes the entry in
        // the background) renders on a context of its own, from what it takes of this request when its load starts.
        var detached = policy.Loading.MayOutliveCaller;
        DetachedRequest? away = null;
        CachedResponse? rendered = null;
        Dictionary<string, StringValues>? before = null;
        var rendering = false;
        ExceptionDispatchInfo? startFailed = null;
        // The rest of a render sent as it renders (past what may be stored): it ends with this request, and its failure
        // is this request's; the response is the handler's until it ends.
        Task? sending = null;
        Loaded<CachedResponse> loaded;
        try
        {
            // No request token: a miss's handler renders for this request, so this request waits for it.
            // What is stored is decided once, as the miss renders: an entry carries its entity tag, any other answer none.
            loaded = await policy.Cache.GetOrSetCoreAsync(
                key,
                async _ =>
                {
                    rendering = true;
                    CachedResponse answer;
                    string? handlerTag;
                    try
                    {
                        if (away is not null)
                        {
                            answer = await away.RenderAsync(next).ConfigureAwait(false);
                            handlerTag = answer.Headers!.ETag.Count == 1 ? answer.Headers.ETag.ToString() : null;
                        }
                        else
                        {
                            before = HandlerHeaders.Snapshot(http.Response.Headers);
                            (answer, sending) = await RenderAsync(http, before, policy).ConfigureAwait(false);
                            // A render sent as it renders is still running on the handler's thread: its response is not read.
                            handlerTag = sending is null && http.Response.Headers.ETag.Count == 1 ? http.Response.Headers.ETag.ToString() : null;
                        }
                    }
                    catch (Exception ex) when (away is null && http.RequestAborted.IsCancellationRequested && ex is not RcCacheException)
                    {
                        // Its visitor left, whatever the handler threw as it gave up (SqlClient reports its cancellation
                        // as an error of its own): not a failure of its source, which the requests that joined it render.
                        throw new RequestEndedException(ex, http.RequestAborted);
                    }
                    catch (RcCacheException ex)
                    {
                        // The handler's own (a cache call of its own failed): its failure, for every request that
                        // joined this render too, not the endpoint cache's.
                        ex.Data[HandlersOwn] = true;
                        throw;
                    }

                    var result = storable && answer.StatusCode is >= 200 and < 300 and not StatusCodes.Status206PartialContent && answer.IsShareable && answer.FitsEncoding && !policy.IsBypassBody(answer.Body.Span)
                        ? answer.AsEntry(handlerTag, policy.Cache.Keyspace.Time.GetUtcNow())
                        : answer;
                    if (away is null && result.EntityTag is not null)
                    {
                        // The response starts before it is stored, so that what it sets as it starts is seen: a
                        // session's cookie, added by the session's OnStarting callback, or a Cache-Control that says
                        // private or no-store, makes it a visitor's own. (Only those: what else the start adds, such as a
                        // compressing body's Content-Encoding, describes how these bytes are sent, not the bytes.) A
                        // start that fails fails this request alone.
                        SetStatus(http, policy, "MISS");
                        try
                        {
                            await result.StartAsync(http).ConfigureAwait(false);
                        }
                        catch (Exception ex)
                        {
                            startFailed = ExceptionDispatchInfo.Capture(ex);
                        }

                        if (startFailed is not null || CachedResponse.IsPersonal(http.Response.Headers))
                        {
                            result = answer.Personal();
                        }
                    }

                    rendered = result;

                    // A server error is the handler failing: with a fail-safe fallback, the fallback answers instead
                    // (to this request too, unless its error is already on its way).
                    return result.StatusCode >= 500 && !result.IsSent ? throw new RenderFailedException(result) : result;
                },
                policy.EntryOptions,
                policy.Loading,
                tags,
                static r => r.EntityTag is null ? null : r.Encode(),
                CachedResponse.TryDecode,
                CancellationToken.None,
                detached ? () => away = DetachedRequest.Of(http) : null,
                refreshes: storable).ConfigureAwait(false);
        }
        catch (Exception ex) when (sending is not null)
        {
            // The load failed after its render spilled: the response stays the handler's until it ends, and a failure of
            // the endpoint's cache fails nothing the handler sent.
            await sending.ConfigureAwait(false);
            if (ex is RcCacheException)
            {
                return;
            }

            throw;
        }
        catch (RenderFailedException failed)
        {
            // No fallback: the error is answered as rendered, to this request and to those that joined it when anyone
            // would get it; a joiner renders a personal one for itself.
            SetStatus(http, policy, "MISS");
            if (ReferenceEquals(failed.Answer, rendered) || failed.Answer.IsShareable)
            {
                await (ReferenceEquals(failed.Answer, rendered) ? failed.Answer : failed.Answer.Bare()).ExecuteAsync(http).ConfigureAwait(false);
            }
            else
            {
                await next(http).ConfigureAwait(false);
            }

            return;
        }
        catch (OperationCanceledException) when (!rendering && !http.RequestAborted.IsCancellationRequested)
        {
            // This request joined another's miss, whose visitor left and whose handler ended with its request: this
            // request renders for itself.
            SetStatus(http, policy, "MISS");
            await next(http).ConfigureAwait(false);
            return;
        }
        catch (RcCacheException ex) when (!ex.Data.Contains(HandlersOwn))
        {
            // The endpoint's cache failed.
            startFailed?.Throw();
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

        startFailed?.Throw();
        var response = loaded.Value;
        var mine = ReferenceEquals(response, rendered);
        if (sending is not null)
        {
            await sending.ConfigureAwait(false);
            return;
        }

        if (http.Response.HasStarted && rendered is not null)
        {
            // This request's render started its response, with its own headers: whatever the load answered, the body
            // that follows is the render's.
            await rendered.ExecuteAsync(http).ConfigureAwait(false);
            return;
        }

        if (!mine && rendering && away is null && !http.Response.HasStarted)
        {
            // This request's handler failed or ran past its soft timeout, and another answer is served: the fallback,
            // or a fresh entry fail-safe found when it read the key again. What the failed handler set on this response
            // goes; what the middleware before the cache set stays.
            http.Response.Clear();
            foreach (var (name, value) in before ?? [])
            {
                http.Response.Headers[name] = value;
            }
        }

        if (loaded.Outcome == LoadOutcome.Stale)
        {
            // The fallback answers, marked.
            SetStatus(http, policy, "STALE");
            SetAge(http, policy, response);
            await response.Shared().ExecuteAsync(http).ConfigureAwait(false);
            return;
        }

        if (!mine && response.EntityTag is null)
        {
            // This request joined another's miss whose answer is not stored: it was made for that request (it sets a
            // cookie, is private or no-store, or is not a success). An error anyone would get is shared, labelled MISS;
            // anything else (an error that answers the request's own headers too), this request renders for itself.
            SetStatus(http, policy, "MISS");
            if (response.StatusCode >= 400 && response.IsShareable && !DependsOnRequestHeaders(response.StatusCode))
            {
                await response.Bare().ExecuteAsync(http).ConfigureAwait(false);
            }
            else
            {
                await next(http).ConfigureAwait(false);
            }

            return;
        }

        SetStatus(http, policy, mine ? "MISS" : "HIT");
        if (!mine)
        {
            SetAge(http, policy, response);
        }

        await (mine ? response : response.Shared()).ExecuteAsync(http).ConfigureAwait(false);
    }

    /// <summary>
    /// Runs the rest of the pipeline with the response body in a buffer, and returns what it rendered. A body past what
    /// may be stored is sent as it renders instead (<see cref="RenderBodyStream"/>): the answer, sent and not stored, is
    /// returned as the body spills, so that requests that joined the render go on to render their own without waiting for
    /// this client's download, and <c>Sending</c> is the rest of the render, this request's alone.
    /// </summary>
    private async Task<(CachedResponse Answer, Task? Sending)> RenderAsync(HttpContext http, Dictionary<string, StringValues>? before, CachedEndpointPolicy policy)
    {
        var body = http.Features.GetRequiredFeature<IHttpResponseBodyFeature>();
        var limit = policy.Cache.Keyspace.MaximumValueSize;
        // Completed on the handler's thread as the body spills, with what the response is sent as; from then on the
        // response is the handler's alone.
        var spilled = new TaskCompletionSource<CachedResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
        var buffer = new RenderBodyStream(body, limit, () =>
        {
            SetStatus(http, policy, "MISS");
            spilled.TrySetResult(CachedResponse.Sent(http.Response.StatusCode, http.Response.ContentType));
        });
        var rendering = new StreamResponseBodyFeature(buffer);
        http.Features.Set<IHttpResponseBodyFeature>(rendering);
        var render = RenderRestAsync(http, body, rendering);
        if (await Task.WhenAny(render, spilled.Task).ConfigureAwait(false) != render || spilled.Task.IsCompleted)
        {
            if (!HttpMethods.IsHead(http.Request.Method))
            {
                // (A HEAD request's answer is never stored, however big.)
                LogBodyTooLarge(logger, policy.Identity, limit);
            }

            return (await spilled.Task.ConfigureAwait(false), render);
        }

        await render.ConfigureAwait(false);
        return (new CachedResponse(http.Response.StatusCode, http.Response.ContentType, buffer.Kept)
        {
            IsShareable = CachedResponse.IsShareableBy(http.Response.Headers),
            StoredHeaders = HandlerHeaders.Capture(http.Response.Headers, before, policy.StatusHeader),
        }, null);
    }

    /// <summary>
    /// Runs the rest of the pipeline, and gives the response its own body back when it ends. The handler renders the
    /// entry, whole, as a render away from its request does: the request's conditions and range are hidden from it (a
    /// handler that honours them would answer a 304 or a 412, which is not stored), and the entry answers them itself.
    /// </summary>
    private async Task RenderRestAsync(HttpContext http, IHttpResponseBodyFeature body, StreamResponseBodyFeature rendering)
    {
        var conditions = RequestConditions.Take(http.Request.Headers);
        try
        {
            await next(http).ConfigureAwait(false);

            // What the handler wrote to the body's writer and did not flush is written, as a server completes it.
            await rendering.CompleteAsync().ConfigureAwait(false);
        }
        finally
        {
            http.Features.Set(body);
            RequestConditions.PutBack(http.Request.Headers, conditions);
        }
    }

    /// <summary>
    /// Says how long ago an entry with its handler's headers was rendered (<c>Age</c>, RFC 9111 section 5.1), as output
    /// caching does, so that a <c>max-age</c> or <c>Expires</c> the handler set is counted from then, not from this answer.
    /// </summary>
    private static void SetAge(HttpContext http, CachedEndpointPolicy policy, CachedResponse response)
    {
        if (response.WrittenAt is { } written && !http.Response.HasStarted)
        {
            var age = Math.Max(0, (long)(policy.Cache.Keyspace.Time.GetUtcNow() - written).TotalSeconds);
            http.Response.Headers.Age = age.ToString(CultureInfo.InvariantCulture);
        }
    }

    private static void SetStatus(HttpContext http, CachedEndpointPolicy policy, string status)
    {
        if (policy.StatusHeader is { } header && !http.Response.HasStarted)
        {
            http.Response.Headers[header] = status;
        }
    }

    /// <summary>
    /// Whether an error answers the request's own headers or its client (Accept, a precondition, a range, its
    /// credentials, its rate): not one anyone would get. Middleware after <c>UseRcCache()</c> (a rate limiter, an API key
    /// check) answers for the handler.
    /// </summary>
    private static bool DependsOnRequestHeaders(int status) =>
        status is StatusCodes.Status401Unauthorized or StatusCodes.Status403Forbidden or StatusCodes.Status406NotAcceptable
            or StatusCodes.Status407ProxyAuthenticationRequired or StatusCodes.Status412PreconditionFailed
            or StatusCodes.Status416RangeNotSatisfiable or StatusCodes.Status429TooManyRequests;
}
