using System.Reflection;
using System.Security.Claims;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.Abstractions;
using Microsoft.AspNetCore.Mvc.Authorization;
using Microsoft.AspNetCore.Mvc.Controllers;
using Microsoft.AspNetCore.Mvc.Filters;
using Microsoft.AspNetCore.Mvc.Formatters;
using Microsoft.AspNetCore.Mvc.ModelBinding;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.AspNetCore.Mvc.RazorPages.Infrastructure;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Caching;

namespace RcAspNet.Endpoints;

/// <summary>
/// Builds the <see cref="CachedEndpointPolicy"/> of an endpoint from its metadata: a minimal-API handler (its
/// <see cref="MethodInfo"/>), an MVC action (its <see cref="ControllerActionDescriptor"/>) or a Razor Page (its
/// <see cref="CompiledPageActionDescriptor"/>). Everything that can be wrong with an endpoint is found here, at start-up,
/// and reported with the endpoint's name and the fix.
/// </summary>
internal static class CachedEndpointPolicyFactory
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

    /// <summary>Returns the policy of <paramref name="endpoint"/>, or null when it is not cached; throws naming the endpoint when it cannot be.</summary>
    public static CachedEndpointPolicy? Build(Endpoint endpoint, IServiceProvider services, CacheRegistry registry, RcOptions options)
    {
        var settings = endpoint.Metadata.GetOrderedMetadata<RcCachedAttribute>().LastOrDefault();
        if (settings is null)
        {
            return null;
        }

        var name = endpoint.DisplayName ?? "(unnamed endpoint)";
        var methods = endpoint.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods;
        if (methods is { Count: > 0 } && !methods.Any(static m => HttpMethods.IsGet(m) || HttpMethods.IsHead(m)))
        {
            return settings.FromConvention
                ? null
                : throw new InvalidOperationException($"Endpoint '{name}' has [RcCached] but answers only {string.Join(", ", methods)}: only GET and HEAD requests are cached. Remove the attribute.");
        }

        var pattern = (endpoint as RouteEndpoint)?.RoutePattern;
        var problems = new List<string>();
        var (identity, arguments) = endpoint.Metadata.GetMetadata<CompiledPageActionDescriptor>() is { } page ? Page(page, pattern, settings, problems)
            : endpoint.Metadata.GetMetadata<ControllerActionDescriptor>() is { } action ? Action(action, pattern, settings, problems)
            : endpoint.Metadata.GetMetadata<MethodInfo>() is { } handler ? Handler(handler, pattern, settings, services.GetService<IServiceProviderIsService>(), problems)
            : throw new InvalidOperationException($"Endpoint '{name}' has [RcCached], but RcAspNet caches only minimal-API handlers, MVC actions and Razor Pages.");
        identity = settings.KeyPrefix
            ?? endpoint.Metadata.GetMetadata<IEndpointNameMetadata>()?.EndpointName
            ?? identity
            ?? $"{(methods is { Count: > 0 } ? string.Join(",", methods) : "*")}:{pattern?.RawText ?? name}";
        identity = new string([.. identity.Select(static c => char.IsWhiteSpace(c) ? '_' : c)]);

        var names = arguments.Select(static a => a.Parameter).ToArray();
        var tags = new List<TagTemplate>();
        foreach (var template in settings.Tags ?? [])
        {
            tags.Add(TagTemplate.Parse(template, names, out var error));
            if (error is not null)
            {
                problems.Add(error);
            }
        }

        RcCache? cache = null;
        try
        {
            cache = settings.Cache is null ? registry.Default : registry.Get(settings.Cache);
        }
        catch (InvalidOperationException ex)
        {
            problems.Add(ex.Message);
        }

        if (settings.ExpirationSeconds < 0)
        {
            problems.Add($"ExpirationSeconds is {settings.ExpirationSeconds}; it is a number of seconds, 0 for the cache's default expiration.");
        }

        var loading = settings.Loading(problems);
        if (!Enum.IsDefined(settings.UserScope))
        {
            problems.Add($"UserScope {(int)settings.UserScope} is not one of {string.Join(", ", Enum.GetNames<RcUserScope>())}.");
        }

        if (settings.UserScope == RcUserScope.Shared && endpoint.Metadata.GetMetadata<IAllowAnonymous>() is null
            && endpoint.Metadata.GetMetadata<IAuthorizeData>() is null && endpoint.Metadata.GetMetadata<AuthorizationPolicy>() is null
            && (endpoint.Metadata.GetMetadata<ActionDescriptor>()?.FilterDescriptors.Any(static f => f.Filter is AuthorizeFilter) ?? false))
        {
            // An MVC AuthorizeFilter (added to MvcOptions.Filters, say) authorizes inside the endpoint, after the cache: a
            // shared hit would skip it, whatever the middleware's order. (An endpoint that also requires authorization of
            // its own is authorized by UseAuthorization(), before the cache.)
            problems.Add("an MVC AuthorizeFilter authorizes it inside the endpoint, which a shared hit skips: require authorization with [Authorize] or RequireAuthorization() (which UseAuthorization() enforces before the cache), mark it [AllowAnonymous] if anyone may see it, or set UserScope = RcUserScope.PerUser.");
        }

        foreach (var filter in endpoint.Metadata.GetMetadata<ActionDescriptor>()?.FilterDescriptors.Select(static f => AuthorizationFilterType(f.Filter)).OfType<Type>().Distinct() ?? [])
        {
            // An authorization filter of MVC's that checks something other than the user (an API key) runs inside the
            // endpoint, after the cache, whoever the user is: a hit would skip it in every scope.
            problems.Add($"the MVC authorization filter {filter.Name} runs inside the endpoint, which a hit skips: check it before the cache, with [Authorize(Policy = ...)] (which UseAuthorization() enforces before the cache) or a middleware before UseRcCache().");
        }

        if (problems.Count > 0)
        {
            throw new InvalidOperationException($"Endpoint '{name}' cannot be cached: {string.Join(" ", problems)}");
        }

        // [FormatFilter] picks the representation by a format in the route or query, which is no argument of the action:
        // a request that names one is answered without the cache (its key, and InvalidateAsync's, stay the action's).
        // With a default format in the route ({format=json}), every request names one: those that name the default are
        // cached, as the one representation the default picks.
        var formatFilter = endpoint.Metadata.GetMetadata<ControllerActionDescriptor>()?.FilterDescriptors.Any(static f => IsFormatFilter(f.Filter)) == true;
        var formatDefault = formatFilter && pattern?.Defaults.TryGetValue("format", out var format) == true ? format as string : null;
        return new CachedEndpointPolicy(identity, [.. arguments], settings.UserScope, settings.ExpirationSeconds > 0 ? TimeSpan.FromSeconds(settings.ExpirationSeconds) : null, [.. tags], cache!, options.CacheStatusHeader, loading, formatFilter, formatDefault, ReadsBody(endpoint));
    }

    /// <summary>
    /// Whether the handler binds something from the request's body ([FromBody], a form or its files, the body's stream),
    /// which no key argument reads: a request that carries a body is then answered without the cache.
    /// </summary>
    private static bool ReadsBody(Endpoint endpoint)
    {
        static bool FromBody(Type type, BindingSource? source) =>
            (NotKeyed.Contains(type) && type != typeof(CancellationToken)) || source == BindingSource.Body || source == BindingSource.FormFile;

        return endpoint.Metadata.GetMetadata<CompiledPageActionDescriptor>() is { } page
            ? page.HandlerMethods.Where(static h => string.Equals(h.HttpMethod, "GET", StringComparison.OrdinalIgnoreCase)).SelectMany(static h => h.Parameters)
                .Concat(page.BoundProperties.Where(static p => BindsOnGet(p.BindingInfo))).Any(static p => FromBody(p.ParameterType, p.BindingInfo?.BindingSource))
            : endpoint.Metadata.GetMetadata<ControllerActionDescriptor>() is { } action
            ? action.Parameters.Concat(action.BoundProperties.Where(static p => BindsOnGet(p.BindingInfo))).Any(static p => FromBody(p.ParameterType, p.BindingInfo?.BindingSource))
            : endpoint.Metadata.GetMetadata<MethodInfo>() is { } method
            && method.GetParameters().Any(static p => FromBody(p.ParameterType, null) || p.IsDefined(typeof(FromBodyAttribute)));
    }

    private static (string? Identity, List<KeyArgument> Arguments) Handler(MethodInfo method, RoutePattern? pattern, RcCachedAttribute settings, IServiceProviderIsService? isService, List<string> problems)
    {
        CheckReturnType(method.ReturnType, problems);
        var nullability = new NullabilityInfoContext();
        var arguments = new List<KeyArgument>();
        foreach (var parameter in method.GetParameters())
        {
            var type = parameter.ParameterType;
            if (IsContextual(type, parameter.Name, settings, problems)
                || NotKeyed.Contains(type)
                || parameter.IsDefined(typeof(FromServicesAttribute))
                || parameter.IsDefined(typeof(FromKeyedServicesAttribute))
                || parameter.IsDefined(typeof(FromBodyAttribute))
                || (isService?.IsService(type) == true && !RcKey.IsKeyType(type)))
            {
                continue;
            }

            var (source, name) = parameter.GetCustomAttribute<FromRouteAttribute>() is { } route ? (ArgumentSource.Route, route.Name)
                : parameter.GetCustomAttribute<FromQueryAttribute>() is { } query ? (ArgumentSource.Query, query.Name)
                : parameter.GetCustomAttribute<FromHeaderAttribute>() is { } header ? (ArgumentSource.Header, header.Name)
                : parameter.GetCustomAttribute<FromFormAttribute>() is { } form ? (ArgumentSource.Form, form.Name)
                : pattern?.GetParameter(parameter.Name!) is not null ? (ArgumentSource.Route, null)
                : (ArgumentSource.Query, (string?)null);
            var optional = parameter.HasDefaultValue || Nullable.GetUnderlyingType(type) is not null
                || (!type.IsValueType && nullability.Create(parameter).WriteState == NullabilityState.Nullable);
            if (Argument(parameter.Name!, type, source, name ?? parameter.Name!, ArgumentParsers.Minimal, optional, parameter.HasDefaultValue ? parameter.DefaultValue : null, modelBound: false, problems) is { } argument)
            {
                arguments.Add(argument);
            }
        }

        return (null, arguments);
    }

    private static (string? Identity, List<KeyArgument> Arguments) Action(ControllerActionDescriptor action, RoutePattern? pattern, RcCachedAttribute settings, List<string> problems)
    {
        CheckReturnType(action.MethodInfo.ReturnType, problems);
        var arguments = new List<KeyArgument>();
        foreach (var parameter in action.Parameters.Concat(action.BoundProperties.Where(static p => BindsOnGet(p.BindingInfo))))
        {
            if (MvcArgument(parameter, pattern, settings, problems) is { } argument)
            {
                arguments.Add(argument);
            }
        }

        return ($"{action.ControllerName}.{action.ActionName}", arguments);
    }

    private static (string? Identity, List<KeyArgument> Arguments) Page(CompiledPageActionDescriptor page, RoutePattern? pattern, RcCachedAttribute settings, List<string> problems)
    {
        var arguments = new List<KeyArgument>();
        var gets = page.HandlerMethods.Where(static h => string.Equals(h.HttpMethod, "GET", StringComparison.OrdinalIgnoreCase)).ToArray();
        var handler = gets.FirstOrDefault(static h => h.Name is null);
        foreach (var parameter in handler?.Parameters ?? [])
        {
            if (MvcArgument(parameter, pattern, settings, problems) is { } argument)
            {
                arguments.Add(argument);
            }
        }

        foreach (var property in page.BoundProperties.Where(static p => BindsOnGet(p.BindingInfo)))
        {
            if (MvcArgument(property, pattern, settings, problems) is { } argument)
            {
                arguments.Add(argument);
            }
        }

        if (gets.Any(static h => h.Name is not null))
        {
            // Named GET handlers (OnGetCsv) are chosen by the request's handler value: it is keyed, and so are the
            // parameters of each named handler that the others do not bind.
            var keyed = new HashSet<string>((handler?.Parameters ?? []).Select(static p => p.Name).Concat(page.BoundProperties.Where(static p => BindsOnGet(p.BindingInfo)).Select(static p => p.Name)), StringComparer.OrdinalIgnoreCase);
            // Razor Pages matches the handler's name ignoring case: so does the key, lower-cased.
            var source = pattern?.GetParameter("handler") is not null ? ArgumentSource.RouteThenQuery : ArgumentSource.Query;
            arguments.Add(Argument("handler", typeof(string), source, "handler", static _ => HandlerName, optional: true, null, modelBound: false, problems)!);
            foreach (var parameter in gets.Where(static h => h.Name is not null).SelectMany(static h => h.Parameters).Where(p => keyed.Add(p.Name)))
            {
                if (MvcArgument(parameter, pattern, settings, problems) is { } argument)
                {
                    arguments.Add(argument);
                }
            }
        }

        return ($"Page:{page.ViewEnginePath}", arguments);
    }

    /// <summary>
    /// The type of an MVC authorization filter other than [Authorize]'s and [AllowAnonymous]'s (which the factory and the
    /// middleware handle) and [RequireHttps]'s (an app that requires HTTPS redirects before the cache, and HSTS keeps
    /// browsers on HTTPS: a filter in every action besides), by instance, by type or as a service; null for any other filter.
    /// </summary>
    private static Type? AuthorizationFilterType(IFilterMetadata filter)
    {
        var type = filter switch
        {
            TypeFilterAttribute typed => typed.ImplementationType,
            ServiceFilterAttribute service => service.ServiceType,
            _ => filter.GetType(),
        };
        return typeof(IAuthorizationFilter).IsAssignableFrom(type) || typeof(IAsyncAuthorizationFilter).IsAssignableFrom(type)
            ? typeof(AuthorizeFilter).IsAssignableFrom(type) || type == typeof(AllowAnonymousFilter) || typeof(RequireHttpsAttribute).IsAssignableFrom(type) ? null : type
            : null;
    }

    /// <summary>[FormatFilter], or a format filter added to MVC's filters by instance, by type or as a service.</summary>
    private static bool IsFormatFilter(IFilterMetadata filter) =>
        filter is FormatFilterAttribute or FormatFilter
        || (filter is TypeFilterAttribute type && type.ImplementationType == typeof(FormatFilter))
        || (filter is ServiceFilterAttribute service && service.ServiceType == typeof(FormatFilter));

    private static bool HandlerName(string text, out object? value)
    {
        value = text.ToLowerInvariant();
        return true;
    }

    /// <summary>An argument bound by MVC's model binding: its source as MVC infers it, parsed with the type's converter.</summary>
    private static KeyArgument? MvcArgument(ParameterDescriptor descriptor, RoutePattern? pattern, RcCachedAttribute settings, List<string> problems)
    {
        var (parameter, type, binding) = (descriptor.Name, descriptor.ParameterType, descriptor.BindingInfo);
        var bindingSource = binding?.BindingSource;
        if (IsContextual(type, parameter, settings, problems)
            || NotKeyed.Contains(type)
            || bindingSource is not null && (bindingSource == BindingSource.Services || bindingSource == BindingSource.Special || bindingSource == BindingSource.Body
                || bindingSource == BindingSource.FormFile || bindingSource.Id == "FromKeyedServices"))
        {
            return null;
        }

        if (bindingSource == BindingSource.Custom || binding?.BinderType is not null)
        {
            problems.Add($"its parameter '{parameter}' is bound by a model binder of its own, whose value the key cannot read: bind it from the route, the query string, a header or the form ([FromRoute], [FromQuery], [FromHeader], [FromForm]).");
            return null;
        }

        // Without a named source, MVC's value providers read the route values (those of the pattern, and a conventional
        // route's defaults) before the query string.
        var name = binding?.BinderModelName ?? parameter;
        var source = bindingSource == BindingSource.Path ? ArgumentSource.Route
            : bindingSource == BindingSource.Query ? ArgumentSource.Query
            : bindingSource == BindingSource.Header ? ArgumentSource.Header
            : bindingSource == BindingSource.Form ? ArgumentSource.Form
            : ArgumentSource.RouteThenQuery;

        // MVC passes a parameter it did not find at its declared default (or its type's), and leaves a bound property at
        // whatever its page or controller set, which the key cannot know: keyed as absent, which no value read is.
        var info = descriptor switch
        {
            ControllerParameterDescriptor action => action.ParameterInfo,
            HandlerParameterDescriptor handler => handler.ParameterInfo,
            _ => null,
        };
        var @default = info is null ? null
            : info.HasDefaultValue ? info.DefaultValue
            : type.IsValueType && Nullable.GetUnderlyingType(type) is null ? Activator.CreateInstance(type) : null;
        return Argument(parameter, type, source, name, ArgumentParsers.Mvc, optional: true, @default, modelBound: true, problems);
    }

    private static KeyArgument? Argument(string parameter, Type type, ArgumentSource source, string name, Func<Type, ArgumentParser?> parsers, bool optional, object? @default, bool modelBound, List<string> problems)
    {
        if (!RcKey.IsKeyType(type))
        {
            problems.Add($"its parameter '{parameter}' of type {type.Name} has no key form. Bind simple values (strings, numbers, dates, enums, Guids, arrays of them), or mark services [FromServices].");
            return null;
        }

        var underlying = Nullable.GetUnderlyingType(type) ?? type;
        var element = underlying.IsArray ? underlying.GetElementType()!
            : underlying.IsGenericType && underlying.GetGenericTypeDefinition() == typeof(List<>) ? underlying.GetGenericArguments()[0]
            : null;
        if (element is not null && source is not (ArgumentSource.Query or ArgumentSource.Header))
        {
            problems.Add($"its parameter '{parameter}' is a list bound from the {source.ToString().ToLowerInvariant()}; a list argument is read from the query string or a header.");
            return null;
        }

        if (parsers(Nullable.GetUnderlyingType(element ?? underlying) ?? element ?? underlying) is not { } parse)
        {
            problems.Add($"its parameter '{parameter}' of type {type.Name} cannot be read from the request.");
            return null;
        }

        return new KeyArgument(parameter, source, name, parse, element, element is not null && !underlying.IsArray, optional, @default is DBNull ? null : @default, modelBound);
    }

    private static bool IsContextual(Type type, string? parameter, RcCachedAttribute settings, List<string> problems)
    {
        if (!Contextual.Contains(type))
        {
            return false;
        }

        if (settings.UserScope == RcUserScope.AnonymousOnly)
        {
            problems.Add($"it takes {type.Name} '{parameter}', so its result may depend on the user: set UserScope = RcUserScope.PerUser (cache per user) or RcUserScope.Shared (the same for everyone) on [RcCached].");
        }

        return true;
    }

    /// <summary>Whether a bound property is bound on GET requests ([BindProperty(SupportsGet = true)]).</summary>
    private static bool BindsOnGet(BindingInfo? binding)
    {
        if (binding?.RequestPredicate is not { } predicate)
        {
            return binding is not null;
        }

        var get = new DefaultHttpContext();
        get.Request.Method = HttpMethods.Get;
        return predicate(new ActionContext(get, new RouteData(), new ActionDescriptor()));
    }

    private static void CheckReturnType(Type declared, List<string> problems)
    {
        var type = declared;
        if (type.IsGenericType && (type.GetGenericTypeDefinition() == typeof(Task<>) || type.GetGenericTypeDefinition() == typeof(ValueTask<>)))
        {
            type = type.GetGenericArguments()[0];
        }

        if (!CanCarryData(type))
        {
            problems.Add($"its handler returns {declared.Name}, which never carries a cacheable result. Remove [RcCached] or .CacheResult() from it.");
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
}
