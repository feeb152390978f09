namespace RcAspNet.Stores;

/// <summary>A key that carries a tag, and when it expires (Unix milliseconds).</summary>
internal readonly record struct TagMember(string Key, long ExpiresAt);
