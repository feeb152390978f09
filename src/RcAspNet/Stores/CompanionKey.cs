using RcAspNet.Stores.Redis;

namespace RcAspNet.Stores;

/// <summary>
/// A key the library keeps beside an entry's key (its fleet lock, its fill lease): a prefix before the entry's key, in
/// the entry's own hash slot so that a cluster keeps both on one node and one script may use both (the entry's
/// <c>{hash tag}</c> if it has one, else the whole key as the tag).
/// </summary>
internal static class CompanionKey
{
    /// <summary>The companion under <paramref name="prefix"/>; null for a key with a <c>}</c> and no tag of its own, which no name can share a slot with.</summary>
    public static string? InSlotOf(string prefix, string key)
    {
        var slot = HashSlot.Of(key);
        var plain = prefix + key;
        if (HashSlot.Of(plain) == slot)
        {
            return plain;
        }

        return key.Contains('}', StringComparison.Ordinal) ? null : $"{prefix}{{{key}}}";
    }
}
