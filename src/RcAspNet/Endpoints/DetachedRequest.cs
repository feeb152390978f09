using System.Globalization;
using System.Security.Claims;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Features.Authentication;
using Microsoft.AspNetCore.Localization;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Primitives;

namespace RcAspNet.Endpoints;

/// <summary>
/// What a render needs of a request, taken while the request is live, so that the handler can run after it ended: when
/// a timeout lets the caller go with a fallback, or a hit refreshes its entry in the background. The render runs the
/// rest of the pipeline on an <see cref="HttpContext"/> of its own, in a service scope of its own, with the request's
/// method, target, headers, user, endpoint, route values, items, form (when it was read) and culture, and no body (the
/// cache serves GET and HEAD only).
/// </summary>
internal sealed class DetachedRequest
{
    private readonly string _method;
    private readonly string _scheme;
    private readonly string _protocol;
    private readonly PathString _pathBase;
    private readonly PathString _path;
    private readonly QueryString _query;
    private readonly HeaderDictionary _headers;
    private readonly ClaimsPrincipal _user;
    private readonly Endpoint? _endpoint;
    private readonly RouteValueDictionary _routeValues;
    private readonly Dictionary<object, object?> _items;
    private readonly HttpConnectionFeature _connection;
    private readonly IServiceScopeFactory _scopes;
    private readonly CancellationToken _stopping;
    private readonly IFormCollection? _form;
    private readonly CultureInfo _culture;
    private readonly CultureInfo _uiCulture;
    private readonly IRequestCultureFeature? _requestCulture;
    private readonly Dictionary<string, StringValues>? _responseHeaders;
    private readonly bool _allowSynchronousIO;

    private DetachedRequest(HttpContext http)
    {
        var request = http.Request;
        _method = request.Method;
        _scheme = request.Scheme;
        _protocol = request.Protocol;
        _pathBase = request.PathBase;
        _path = request.Path;
        _query = request.QueryString;
        _headers = new HeaderDictionary(request.Headers.Count);
        foreach (var (name, value) in request.Headers)
        {
            // A render away from its request renders the entry, whole: not the 304 or the part that the visitor's
            // conditions or range would get from a handler that honours them (the entry answers those itself).
            if (!RequestConditions.IsCondition(name))
            {
                _headers[name] = value;
            }
        }

        _user = http.User;
        _endpoint = http.GetEndpoint();
        _routeValues = new RouteValueDictionary(request.RouteValues);
        _items = new Dictionary<object, object?>(http.Items);
        _connection = new HttpConnectionFeature
        {
            ConnectionId = http.Connection.Id,
            RemoteIpAddress = http.Connection.RemoteIpAddress,
            RemotePort = http.Connection.RemotePort,
            LocalIpAddress = http.Connection.LocalIpAddress,
            LocalPort = http.Connection.LocalPort,
        };
        _scopes = http.RequestServices.GetRequiredService<IServiceScopeFactory>();
        _stopping = http.RequestServices.GetService<IHostApplicationLifetime>()?.ApplicationStopping ?? CancellationToken.None;

        // What the request's own middleware set up before the cache: a form the key was read from (the render has no
        // body to read it again) and the culture request localization chose.
        _form = http.Features.Get<IFormFeature>()?.Form;
        _culture = CultureInfo.CurrentCulture;
        _uiCulture = CultureInfo.CurrentUICulture;
        _requestCulture = http.Features.Get<IRequestCultureFeature>();

        // And the response's headers it set: the handler finds them as it would in the request, and what goes with the
        // response is what it set over them.
        _responseHeaders = HandlerHeaders.Snapshot(http.Response.Headers);

        // And the server's rule on synchronous I/O, which the handler finds (and may change) as in its request.
        _allowSynchronousIO = http.Features.Get<IHttpBodyControlFeature>()?.AllowSynchronousIO ?? true;
    }

    public static DetachedRequest Of(HttpContext http) => new(http);

    /// <summary>Runs <paramref name="next"/> on a context of its own, and returns what it rendered with the headers it set.</summary>
    public async Task<CachedResponse> RenderAsync(RequestDelegate next)
    {
        var scope = _scopes.CreateAsyncScope();
        await using var _ = scope.ConfigureAwait(false);
        var responseFeature = new DetachedResponseFeature { AllowSynchronousIO = _allowSynchronousIO };
        var body = new RenderBodyStream(null, Array.MaxLength, null);
        var features = new FeatureCollection();
        features.Set<IHttpRequestFeature>(new HttpRequestFeature
        {
            Protocol = _protocol,
            Scheme = _scheme,
            Method = _method,
            PathBase = _pathBase.Value ?? "",
            Path = _path.Value ?? "",
            QueryString = _query.Value ?? "",
            RawTarget = _pathBase.Add(_path).Value + _query.Value,
            Headers = _headers,
            Body = Stream.Null,
        });
        foreach (var (name, value) in _responseHeaders ?? [])
        {
            responseFeature.Headers[name] = value;
        }

        features.Set<IHttpResponseFeature>(responseFeature);
        var rendering = new StreamResponseBodyFeature(body);
        features.Set<IHttpResponseBodyFeature>(rendering);
        features.Set<IHttpBodyControlFeature>(responseFeature);
        features.Set<IServiceProvidersFeature>(new ServiceProvidersFeature { RequestServices = scope.ServiceProvider });
        features.Set<IHttpConnectionFeature>(_connection);
        features.Set<IHttpRequestLifetimeFeature>(new HttpRequestLifetimeFeature { RequestAborted = _stopping });
        features.Set<IItemsFeature>(new ItemsFeature { Items = _items });
        features.Set<IHttpAuthenticationFeature>(new HttpAuthenticationFeature { User = _user });
        if (_form is not null)
        {
            features.Set<IFormFeature>(new FormFeature(_form));
        }

        if (_requestCulture is not null)
        {
            features.Set(_requestCulture);
        }

        // In this method's own flow: the caller's culture is its own again when it returns.
        CultureInfo.CurrentCulture = _culture;
        CultureInfo.CurrentUICulture = _uiCulture;
        var http = new DefaultHttpContext(features);
        http.SetEndpoint(_endpoint);
        http.Request.RouteValues = _routeValues;

        // Code that reads the request through IHttpContextAccessor sees this context (the render runs in a flow of its own).
        if (scope.ServiceProvider.GetService<IHttpContextAccessor>() is { } accessor)
        {
            accessor.HttpContext = http;
        }

        try
        {
            await next(http).ConfigureAwait(false);

            // What the handler wrote to the body's writer and did not flush is written, as a server completes it.
            await rendering.CompleteAsync().ConfigureAwait(false);
            var response = http.Response;

            // What goes with the response is what the handler set, as for a render in its request: taken before the
            // start adds what the start adds (a session's cookie).
            var stored = HandlerHeaders.Capture(response.Headers, _responseHeaders, null);
            await responseFeature.StartAsync().ConfigureAwait(false);
            return new CachedResponse(response.StatusCode, response.ContentType, body.Kept)
            {
                IsShareable = CachedResponse.IsShareableBy(response.Headers),
                Headers = response.Headers,
                StoredHeaders = stored,
            };
        }
        finally
        {
            // What the handler registered for the end of its response (RegisterForDispose included) runs, as a server would run it.
            await responseFeature.CompleteAsync().ConfigureAwait(false);
        }
    }

    /// <summary>A response that runs its OnStarting and OnCompleted callbacks, last registered first, as a server does.</summary>
    private sealed class DetachedResponseFeature : HttpResponseFeature, IHttpBodyControlFeature
    {
        private readonly Stack<(Func<object, Task> Callback, object State)> _starting = new();
        private readonly Stack<(Func<object, Task> Callback, object State)> _completed = new();
        private bool _started;

        public override bool HasStarted => _started;

        /// <summary>Gets or sets whether the server would let the handler write synchronously: as the request did when it was taken (the render's body is kept whole, and takes such writes anyway).</summary>
        public bool AllowSynchronousIO { get; set; }

        public override void OnStarting(Func<object, Task> callback, object state) => _starting.Push((callback, state));

        public override void OnCompleted(Func<object, Task> callback, object state) => _completed.Push((callback, state));

        public async Task StartAsync()
        {
            while (_starting.TryPop(out var starting))
            {
                await starting.Callback(starting.State).ConfigureAwait(false);
            }

            _started = true;
        }

        public async Task CompleteAsync()
        {
            while (_completed.TryPop(out var completed))
            {
                await completed.Callback(completed.State).ConfigureAwait(false);
            }
        }
    }
}
