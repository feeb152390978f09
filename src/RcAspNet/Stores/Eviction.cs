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

        // Sorted by what each entry said once: reads go on meanwhile, and a sort whose keys change under it can fail.
        var order = new (bool WasRead, long LastUse, T Entry)[live.Count];
        for (var i = 0; i < order.Length; i++)
        {
            order[i] = (live[i].WasRead, live[i].LastUse, live[i]);
        }

        Array.Sort(order, static (a, b) => a.WasRead != b.WasRead ? (a.WasRead ? 1 : -1) : a.LastUse.CompareTo(b.LastUse));
        foreach (var (_, _, entry) in order)
        {
            if (size() <= target)
            {
                break;
            }

            remove(entry);
        }
    }
}
