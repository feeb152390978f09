namespace RcAspNet.Stores;

/// <summary>
/// A removal that has not reached its server yet, kept until it can be delivered. Removals only delete, so delivering
/// one twice, or after a later write, costs at most a miss.
/// </summary>
internal sealed class Removal
{
    private Removal(RemovalKind kind, string[] keys, TagKeys tag, string? drain)
    {
        Kind = kind;
        Keys = keys;
        Tag = tag;
        Drain = drain;
    }

    public RemovalKind Kind { get; }

    /// <summary>Gets the keys to delete, for <see cref="RemovalKind.Keys"/>; the namespaces (key prefixes) to clear, for <see cref="RemovalKind.Clear"/>.</summary>
    public string[] Keys { get; }

    /// <summary>Gets the tag to invalidate, for <see cref="RemovalKind.Tag"/>.</summary>
    public TagKeys Tag { get; }

    /// <summary>Gets the set its members were moved to when the tag's version already changed, for <see cref="RemovalKind.Tag"/>; null when the version must change first.</summary>
    public string? Drain { get; }

    /// <summary>Gets how much of the pending bound it takes: its keys, or one.</summary>
    public int Size => Kind == RemovalKind.Keys ? Keys.Length : 1;

    /// <summary>Gets the key that routes it to its server: its first key, or its tag's.</summary>
    public string Routing => Kind == RemovalKind.Tag ? Tag.Routing : Keys[0];

    public static Removal OfKeys(string[] keys) => new(RemovalKind.Keys, keys, default, null);

    public static Removal OfKey(string key) => new(RemovalKind.Keys, [key], default, null);

    public static Removal OfTag(TagKeys tag) => new(RemovalKind.Tag, [], tag, null);

    /// <summary>Every key under <paramref name="prefixes"/> on the server (an empty prefix: its whole database, as rc's <c>clear()</c> does without a namespace).</summary>
    public static Removal OfClear(string[] prefixes) => new(RemovalKind.Clear, prefixes, default, null);

    /// <summary>A tag whose version has changed, but whose members in <paramref name="drain"/> are still to be deleted.</summary>
    public static Removal OfDrain(TagKeys tag, string drain) => new(RemovalKind.Tag, [], tag, drain);
}
