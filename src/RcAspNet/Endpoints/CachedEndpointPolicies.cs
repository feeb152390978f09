using System.Collections.Concurrent;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;
using RcAspNet.Caching;

namespace RcAspNet.Endpoints;

/// <summary>
/// The policy of every cached endpoint, built once: at start-up for the endpoints the app maps (where any error stops
/// the app), and on first use for endpoints made later (a Razor Page compiled on its first request).
/// </summary>
internal sealed class CachedEndpointPolicies(IServiceProvider services, CacheRegistry registry, IOptions<RcOptions> options)
{
    private readonly ConcurrentDictionary<Endpoint, CachedEndpointPolicy?> _policies = new(ReferenceEqualityComparer.Instance);

    /// <summary>Gets or sets whether the pipeline has the middleware (<c>app.UseRcCache()</c>).</summary>
    public bool MiddlewareAdded { get; set; }

    /// <summary>Returns the policy of <paramref name="endpoint"/>, or null when it is not cached.</summary>
    public CachedEndpointPolicy? For(Endpoint endpoint) =>
        _policies.TryGetValue(endpoint, out var policy) ? policy : _policies.GetOrAdd(endpoint, Build);

    /// <summary>Builds and keeps the policy of <paramref name="endpoint"/>; throws, naming it, when it cannot be cached.</summary>
    public CachedEndpointPolicy? Add(Endpoint endpoint) =>
        _policies[endpoint] = CachedEndpointPolicyFactory.Build(endpoint, services, registry, options.Value);

    private CachedEndpointPolicy? Build(Endpoint endpoint)
    {
        try
        {
            return CachedEndpointPolicyFactory.Build(endpoint, services, registry, options.Value);
        }
        catch (InvalidOperationException)
        {
            // Only an endpoint made after start-up gets here (its checks ran then for every other one): it is served uncached.
            return null;
        }
    }
}
