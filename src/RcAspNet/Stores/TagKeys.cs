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

    /// <summary>What a tag's keys hold after the namespace, before the tag (its root is <c>{rc-tag:name}</c>, one hash slot).</summary>
    public const string RootStart = "{rc-tag:";

    /// <summary>
    /// How long past its score a member stays registered. A score is when its entry expires by the clock of the node that
    /// wrote it, and another node's clock prunes it: a clock ahead of the writer's would unregister an entry that still
    /// lives, which an invalidation would then miss. Clocks further apart than this are not supported.
    /// </summary>
    public static readonly TimeSpan PruneMargin = TimeSpan.FromMinutes(5);

    /// <summary>
    /// The tag whose members set <paramref name="key"/> is, or one an invalidation of it moved its members to (its
    /// <see cref="Members"/> is then not <paramref name="key"/>); null for any other key. A clear invalidates the tag
    /// of a members set instead of deleting the set, and drains a moved set (which goes when its last member does)
    /// instead of deleting it: an entry registered meanwhile, which the clear may have missed on its own server, would
    /// otherwise be unknown to the tag's next invalidation.
    /// </summary>
    public static TagKeys? OfSet(string key)
    {
        // From the end: a tag's name may hold "}:keys" itself. A moved set is the members set's name, ':' and 32 hex digits.
        var members = key.EndsWith("}:keys", StringComparison.Ordinal) ? key
            : key.Length > 33 && key[^33] == ':' && key.AsSpan(key.Length - 32).ContainsAnyExcept("0123456789abcdef") is false ? key[..^33]
            : null;
        if (members is null || !members.EndsWith("}:keys", StringComparison.Ordinal) || !members.Contains(RootStart, StringComparison.Ordinal))
        {
            return null;
        }

        var root = members[..^":keys".Length];
        return new TagKeys(root + ":version", members, root);
    }

    /// <summary>
    /// Splits a clear's page: the keys to delete, and the tags' sets (<see cref="OfSet"/>) to invalidate or drain instead;
    /// a tag's version is in neither, left for the invalidation to change.
    /// </summary>
    public static (List<string> Keys, List<(string Key, TagKeys Tag)> Sets) OfClearPage(IReadOnlyCollection<string> page)
    {
        var keys = new List<string>(page.Count);
        var sets = new List<(string Key, TagKeys Tag)>();
        foreach (var key in page)
        {
            if (OfSet(key) is { } tag)
            {
                sets.Add((key, tag));
            }
            else if (!IsVersion(key))
            {
                keys.Add(key);
            }
        }

        return (keys, sets);
    }

    /// <summary>
    /// Whether <paramref name="key"/> is a tag's version, which a clear leaves (it invalidates the tag instead): a write
    /// that read it before the clear then sees the change.
    /// </summary>
    public static bool IsVersion(string key) =>
        key.EndsWith("}:version", StringComparison.Ordinal) && key.Contains(RootStart, StringComparison.Ordinal);
}
