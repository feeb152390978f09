using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace RcAspNet.Endpoints;

/// <summary>
/// Builds the application's endpoints once the pipeline is configured, so that every RcCached check (a handler that
/// can never be cached, one that reads the user without opting in, an [RcCached] the filter was never added to)
/// stops start-up with a message naming the endpoint, instead of surfacing on a request or not at all.
/// </summary>
internal sealed class RcCachedStartupFilter : IStartupFilter
{
    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        next(app);
        if (app.ApplicationServices.GetService<Microsoft.AspNetCore.Routing.EndpointDataSource>() is not { } endpoints)
        {
            return;
        }

        var forgotten = endpoints.Endpoints
            .Where(static e => e.Metadata.GetMetadata<RcCachedAttribute>() is not null && e.Metadata.GetMetadata<RcCachedMarker>() is null)
            .Select(static e => e.DisplayName)
            .ToArray();
        if (forgotten.Length > 0)
        {
            throw new InvalidOperationException(
                $"[RcCached] is on {string.Join(", ", forgotten.Select(static n => $"'{n}'"))}, but nothing caches it: the attribute only carries settings. " +
                "Add .CacheResult() to the route, to a group it is mapped in, or to MapControllers().");
        }
    };
}
