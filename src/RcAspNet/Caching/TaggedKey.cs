namespace RcAspNet.Caching;

/// <summary>A written entry that carries tags, by its namespaced key, with when it expires (Unix milliseconds).</summary>
internal readonly record struct TaggedKey(string Key, long ExpiresAt, IReadOnlyList<string> Tags);
