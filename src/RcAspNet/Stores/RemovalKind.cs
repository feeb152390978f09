namespace RcAspNet.Stores;

/// <summary>What a kept <see cref="Removal"/> removes.</summary>
internal enum RemovalKind
{
    /// <summary>Keys, deleted with one command.</summary>
    Keys,

    /// <summary>A tag: a new version, then every entry that carries it.</summary>
    Tag,

    /// <summary>Every key of the store's namespaces on the server (a bound was passed, or a clear failed).</summary>
    Clear,

    /// <summary>
    /// Entries registered under a tag, remembered (never kept for delivery) for the tag's server: if it loses the
    /// registration, the entries, wherever they live, are deleted, since an invalidation of the tag would miss them.
    /// </summary>
    Members,
}
