namespace RcAspNet.Caching;

/// <summary>A key that loads of this process are under way for (<see cref="CacheNamespace.Watch"/>): how many, and when it last changed.</summary>
internal sealed class KeyWatch
{
    /// <summary>The loads that watch the key; changed under the namespace's lock of its watches.</summary>
    public int Holders;

    /// <summary>The namespace's clock when this process last replaced or removed the key (or when the watch began).</summary>
    public long LastChange;
}
