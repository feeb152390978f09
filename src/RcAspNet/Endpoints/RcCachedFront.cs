using Microsoft.AspNetCore.Http;

namespace RcAspNet.Endpoints;

/// <summary>
/// The front of a cached minimal-API endpoint: its request delegate is wrapped so that a hit is answered before
/// parameter binding builds the handler's services, once the endpoint's filter has said it can read the key from the
/// request (<see cref="RequestKeyReader"/>). Everything else goes on to the endpoint as before.
/// </summary>
internal sealed class RcCachedFront
{
    /// <summary>Gets or sets the filter that answers hits; null until the endpoint is built, and for endpoints whose keys need binding.</summary>
    public RcCachedFilter? Filter { get; set; }

    public RequestDelegate Wrap(RequestDelegate endpoint) => async http =>
    {
        if (Filter is not { } filter || !await filter.TryAnswerAsync(http).ConfigureAwait(false))
        {
            await endpoint(http).ConfigureAwait(false);
        }
    };
}
