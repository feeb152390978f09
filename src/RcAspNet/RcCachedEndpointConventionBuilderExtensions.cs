using RcAspNet;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Caches endpoints that carry no <see cref="RcCachedAttribute"/> of their own.</summary>
public static class RcCachedEndpointConventionBuilderExtensions
{
    /// <summary>
    /// Caches the results of the endpoints under <paramref name="builder"/> (a route, a group, or <c>MapControllers()</c>)
    /// as <c>[RcCached]</c> with its defaults would; an attribute on a handler still wins for that handler. Only GET and
    /// HEAD requests are cached; other endpoints of a group are left alone. Needs <c>app.UseRcCache()</c>.
    /// </summary>
    public static TBuilder CacheResult<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder => builder.CacheResult(static _ => { });

    /// <summary>Caches the results of the endpoints under <paramref name="builder"/> with these settings; an <see cref="RcCachedAttribute"/> on a handler still wins for that handler.</summary>
    public static TBuilder CacheResult<TBuilder>(this TBuilder builder, Action<RcCachedAttribute> configure)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        var settings = new RcCachedAttribute { FromConvention = true };
        configure(settings);

        // First, so that an attribute on the handler, which comes later, wins.
        builder.Add(endpoint => endpoint.Metadata.Insert(0, settings));
        return builder;
    }
}
