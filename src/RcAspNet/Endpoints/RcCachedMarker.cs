namespace RcAspNet.Endpoints;

/// <summary>Endpoint metadata that says the RcCached filter is on the endpoint.</summary>
internal sealed class RcCachedMarker
{
    public static RcCachedMarker Instance { get; } = new();
}
