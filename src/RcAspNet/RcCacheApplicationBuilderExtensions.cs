using Microsoft.Extensions.DependencyInjection;
using RcAspNet;
using RcAspNet.Endpoints;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Adds the middleware that serves <see cref="RcCachedAttribute"/> endpoints.</summary>
public static class RcCacheApplicationBuilderExtensions
{
    /// <summary>
    /// Serves every endpoint that has <see cref="RcCachedAttribute"/> or <c>.CacheResult()</c>: minimal-API handlers,
    /// MVC actions and Razor Pages. Call it once, where <c>UseOutputCache()</c> would go: after <c>UseRouting()</c>
    /// (implicit in a <c>WebApplication</c>), <c>UseCors()</c>, <c>UseAuthentication()</c> and <c>UseAuthorization()</c>.
    /// </summary>
    public static IApplicationBuilder UseRcCache(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var policies = app.ApplicationServices.GetService<CachedEndpointPolicies>()
            ?? throw new InvalidOperationException("UseRcCache() needs RcAspNet's services: call builder.Services.AddRcCache(...) first.");
        policies.MiddlewareAdded = true;
        return app.UseMiddleware<RcCacheMiddleware>();
    }
}
