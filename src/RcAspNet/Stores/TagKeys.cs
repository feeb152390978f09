namespace RcAspNet.Stores;

/// <summary>
/// Where a store keeps one tag: its version (a random token, replaced by every invalidation) and its members (the keys
/// that carry it, each scored by when it expires). Both live on the server of <see cref="Routing"/>, in one slot of a
/// cluster, so that a pipeline on them runs in order.
/// </summary>
internal readonly record struct TagKeys(string Version, string Members, string Routing)
{
    /// <summary>
    /// How long an invalidation's version token outlives it. A tagged write that read the version before and finishes
    /// after the token expired sees a change and removes its own entry, so this only has to outlast slow factories.
    /// </summary>
    public static readonly TimeSpan VersionLifetime = TimeSpan.FromDays(1);
}
