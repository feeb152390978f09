namespace RcAspNet;

/// <summary>How one typed-cache write behaves.</summary>
public sealed class RcEntryOptions
{
    /// <summary>Gets how long the entry lives.</summary>
    /// <value>The default is the cache's default expiration (<see cref="RcOptions.DefaultExpiration"/>).</value>
    public TimeSpan? Expiration { get; init; }

    /// <summary>
    /// Gets results that are returned but not stored (rc's <c>bypass_values</c>), compared by their serialized form;
    /// for example <c>[null]</c>. When set, these replace the configured <see cref="RcOptions.BypassValues"/>.
    /// </summary>
    /// <value>The default is the configured bypass values.</value>
    public IReadOnlyList<object?>? BypassValues { get; init; }

    /// <summary>
    /// Gets the tags of the entry: <see cref="IRcCache.InvalidateTagAsync"/> removes every entry that carries one, on
    /// every server. A tag belongs to the cache's namespace. Reads of a tagged entry cost what any read costs; a tagged
    /// write costs two more round trips (the tags' versions before, their bookkeeping after).
    /// </summary>
    /// <value>The default is none.</value>
    public IReadOnlyList<string>? Tags { get; init; }
}
