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

    /// <summary>
    /// How long past its score a member stays registered. A score is when its entry expires by the clock of the node that
    /// wrote it, and another node's clock prunes it: a clock ahead of the writer's would unregister an entry that still
    /// lives, which an invalidation would then miss. Clocks further apart than this are not supported.
    /// </summary>
    public static readonly TimeSpan PruneMargin = TimeSpan.FromMinutes(5);

    /// <summary>Whether <paramref name="key"/> is a tag's members set, or one an invalidation moved its members to.</summary>
    public static bool IsMembersSet(string key)
    {
        var tag = key.IndexOf("{rc-tag:", StringComparison.Ordinal);
        var end = tag < 0 ? -1 : key.IndexOf("}:keys", tag, StringComparison.Ordinal);
        return end >= 0 && (end + 6 == key.Length || key[end + 6] == ':');
    }
}
