using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc.Controllers;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.AspNetCore.Mvc.RazorPages.Infrastructure;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace RcAspNet.Endpoints;

/// <summary>
/// Once the pipeline is configured, builds the policy of every cached endpoint, so that whatever keeps an endpoint from
/// being cached (a handler that can never be, one that reads the user without opting in, an argument with no key form,
/// two handlers with one identity, a pipeline without <c>UseRcCache()</c>) stops start-up with one message that names
/// each endpoint and the fix.
/// </summary>
internal sealed class RcCachedStartupFilter : IStartupFilter
{
    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        next(app);
        if (app.ApplicationServices.GetService<EndpointDataSource>() is not { } source)
        {
            return;
        }

        var policies = app.ApplicationServices.GetRequiredService<CachedEndpointPolicies>();
        var pages = app.ApplicationServices.GetService<PageLoader>();
        var errors = new List<string>();
        var cached = new List<string>();
        var handlers = new Dictionary<string, (object Handler, string Endpoint)>(StringComparer.Ordinal);
        foreach (var endpoint in source.Endpoints)
        {
            try
            {
                var compiled = Compiled(endpoint, pages);
                if (policies.Add(compiled) is not { } policy)
                {
                    continue;
                }

                cached.Add(policy.Identity);
                var handler = HandlerOf(compiled);
                var name = compiled.DisplayName ?? policy.Identity;
                if (!handlers.TryAdd(policy.Identity, (handler, name)) && !Equals(handlers[policy.Identity].Handler, handler))
                {
                    errors.Add($"[RcCached] gives '{handlers[policy.Identity].Endpoint}' and '{name}' one identity, '{policy.Identity}': their entries would share keys. Give one a KeyPrefix of its own, or a name (WithName).");
                }
            }
            catch (InvalidOperationException ex)
            {
                errors.Add(ex.Message);
            }
        }

        if (cached.Count > 0 && !policies.MiddlewareAdded)
        {
            errors.Add($"[RcCached] is on {string.Join(", ", cached.Select(static n => $"'{n}'"))}, but the pipeline does not serve it: add app.UseRcCache() after UseAuthorization(), where UseOutputCache() would go.");
        }

        if (errors.Count > 0)
        {
            throw new InvalidOperationException(string.Join(Environment.NewLine, errors));
        }
    };

    /// <summary>What renders an endpoint: its action's method, its page's type, or its handler; two routes of one may share an identity.</summary>
    private static object HandlerOf(Endpoint endpoint) =>
        (object?)(endpoint.Metadata.GetMetadata<ControllerActionDescriptor>()?.MethodInfo)
        ?? (object?)(endpoint.Metadata.GetMetadata<CompiledPageActionDescriptor>()?.HandlerTypeInfo)
        ?? (object?)endpoint.Metadata.GetMetadata<System.Reflection.MethodInfo>()
        ?? endpoint;

    /// <summary>A Razor Page's endpoint as it is served: compiled, with the attributes of its page and model.</summary>
    private static Endpoint Compiled(Endpoint endpoint, PageLoader? pages) =>
        pages is not null && endpoint.Metadata.GetMetadata<PageActionDescriptor>() is { } page && endpoint.Metadata.GetMetadata<CompiledPageActionDescriptor>() is null
            ? pages.LoadAsync(page, endpoint.Metadata).GetAwaiter().GetResult().Endpoint ?? endpoint
            : endpoint;
}
