namespace RcAspNet.Caching;

/// <summary>
/// Stripes of keys, for what this process records by key without a record per key (the loads that ended, the changes
/// it made): keys of one stripe share a record, so a false match costs a read or a miss, never a value.
/// </summary>
internal static class KeyStripes
{
    public const int Count = 1024;

    public static int Of(string namespacedKey) => namespacedKey.GetHashCode() & (Count - 1);
}
