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
}
