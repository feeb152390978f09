namespace RcAspNet.Stores;

/// <summary>
/// A removal that has not reached its server yet, kept until it can be delivered. Removals only delete, so delivering
/// one twice, or after a later write, costs at most a miss.
/// </summary>
internal sealed class Removal
{
    private Removal(RemovalKind kind, string[] keys, TagKeys tag, string? drain, bool bumped)
    {
        Kind = kind;
        Keys = keys;
        Tag = tag;
        Drain = drain;
        IsBumped = bumped;
    }

    public RemovalKind Kind { get; }

    /// <summary>Gets the keys to delete, for <see cref="RemovalKind.Keys"/>; the namespaces (key prefixes) to clear, for <see cref="RemovalKind.Clear"/>.</summary>
    public string[] Keys { get; }

    /// <summary>Gets the tag to invalidate, for <see cref="RemovalKind.Tag"/>.</summary>
    public TagKeys Tag { get; }

    /// <summary>
    /// Gets the set the tag's members are moved to, for <see cref="RemovalKind.Tag"/>: named when the removal is made, so
    /// that a delivery that follows an attempt the server carried out after all (it answered too late) drains the same set.
    /// </summary>
    public string? Drain { get; }

    /// <summary>Gets whether the tag's version has changed and its members were moved to <see cref="Drain"/>, so that only their deletion is left.</summary>
    public bool IsBumped { get; }

    /// <summary>Gets how much of the pending bound it takes: its keys, or one.</summary>
    public int Size => Kind is RemovalKind.Keys or RemovalKind.Members ? Keys.Length : 1;

    /// <summary>Gets the key that routes it to its server: its first key, or its tag's.</summary>
    public string Routing => Kind is RemovalKind.Tag or RemovalKind.Members ? Tag.Routing : Keys[0];

    public static Removal OfKeys(string[] keys) => new(RemovalKind.Keys, keys, default, null, false);

    public static Removal OfKey(string key) => new(RemovalKind.Keys, [key], default, null, false);

    /// <summary>An invalidation of <paramref name="tag"/>: a new version, and its members moved to a set of this removal's own, then deleted.</summary>
    public static Removal OfTag(TagKeys tag) => new(RemovalKind.Tag, [], tag, string.Concat(tag.Members, ":", Guid.NewGuid().ToString("N")), false);

    /// <summary>The entries <paramref name="keys"/> registered under <paramref name="tag"/>, whose server may lose the registration.</summary>
    public static Removal OfMembers(TagKeys tag, string[] keys) => new(RemovalKind.Members, keys, tag, null, false);

    /// <summary>Every key under <paramref name="prefixes"/> on the server (an empty prefix: its whole database, as rc's <c>clear()</c> does without a namespace).</summary>
    public static Removal OfClear(string[] prefixes) => new(RemovalKind.Clear, prefixes, default, null, false);

    /// <summary>The rest of an invalidation of <paramref name="tag"/> whose version changed, which moved its members to <paramref name="drain"/>: their deletion.</summary>
    public static Removal OfDrain(TagKeys tag, string drain) => new(RemovalKind.Tag, [], tag, drain, true);

    /// <summary>What is left of a tag's invalidation once its version changed: the deletion of the members moved to <see cref="Drain"/>.</summary>
    public Removal Bumped() => OfDrain(Tag, Drain!);
}
