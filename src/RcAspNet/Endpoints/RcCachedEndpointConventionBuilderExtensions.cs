using RcAspNet;
using RcAspNet.Endpoints;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Adds the RcCached filter to endpoints.</summary>
public static class RcCachedEndpointConventionBuilderExtensions
{
    /// <summary>
    /// Caches the results of the endpoints under <paramref name="builder"/> (a route, a group, or <c>MapControllers()</c>),
    /// keyed by their bound arguments. Settings come from <see cref="RcCachedAttribute"/> on the handler or action,
    /// else the defaults. Only GET and HEAD requests are cached; other endpoints of a group are left alone.
    /// </summary>
    public static TBuilder CacheResult<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Add(static endpoint => AddFilter(endpoint));
        return builder;
    }

    /// <summary>Caches the results of the endpoints under <paramref name="builder"/> with these settings; an <see cref="RcCachedAttribute"/> on a handler still wins for that handler.</summary>
    public static TBuilder CacheResult<TBuilder>(this TBuilder builder, Action<RcCachedAttribute> configure)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        var settings = new RcCachedAttribute();
        configure(settings);
        builder.Add(endpoint =>
        {
            endpoint.Metadata.Insert(0, settings);
            AddFilter(endpoint);
        });
        return builder;
    }

    private static void AddFilter(EndpointBuilder endpoint)
    {
        if (endpoint.Metadata.Contains(RcCachedMarker.Instance))
        {
            return;
        }

        endpoint.Metadata.Add(RcCachedMarker.Instance);
        var front = new RcCachedFront();
        endpoint.FilterFactories.Add((context, next) => RcCachedFilter.Create(endpoint, context, next, front));
        endpoint.RequestDelegate = endpoint.RequestDelegate is { } inner ? front.Wrap(inner) : null;
    }
}
