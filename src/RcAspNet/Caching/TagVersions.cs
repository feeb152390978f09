using RcAspNet.Stores;

namespace RcAspNet.Caching;

/// <summary>The versions of some tags as read before a value that carries them was computed.</summary>
internal sealed class TagVersions(string[] tags, TagKeys[] keys, string?[] versions)
{
    public TagKeys KeysOf(string tag) => keys[Index(tag)];

    public string? VersionOf(string tag) => versions[Index(tag)];

    private int Index(string tag) => Array.IndexOf(tags, tag) is var index and >= 0
        ? index
        : throw new InvalidOperationException($"The version of tag '{tag}' was not read before the value that carries it was computed.");
}
