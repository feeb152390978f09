namespace RcAspNet.Stores;

/// <summary>
/// Shrinks an in-process map that went over its size limit. Entries never read since they were written go first, oldest
/// first, then the least recently read: a flood of one-off entries (thousands of distinct arguments, say) pushes out
/// itself, not the entries that are being read.
/// </summary>
internal static class Eviction
{
    /// <summary>Removes entries of <paramref name="live"/> in eviction order until <paramref name="size"/> is at most <paramref name="target"/>.</summary>
    public static void ShrinkTo<T>(List<T> live, long target, Func<long> size, Action<T> remove)
        where T : ICachedCopy
    {
        if (size() <= target)
        {
            return;
        }

        live.Sort(static (a, b) => a.WasRead != b.WasRead ? (a.WasRead ? 1 : -1) : a.LastUse.CompareTo(b.LastUse));
        foreach (var entry in live)
        {
            if (size() <= target)
            {
                break;
            }

            remove(entry);
        }
    }
}
