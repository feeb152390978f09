using System.Collections.Concurrent;

namespace RcAspNet.Stores.Redis;

/// <summary>
/// The removals a store made lately, delivered or kept, and the writes that replaced a value, remembered for
/// <c>Rc:RemovalReplayWindow</c> so that they can be delivered again to a server that may have lost them after
/// acknowledging them: one that restarted from its disk (a new <c>run_id</c>), or a replica that became a primary before
/// it had them. Bounded by <c>Rc:PendingRemovalLimit</c> keys: when more were made within the window, the window is
/// incomplete, and a replay clears the server's namespaces instead. Adding takes no lock; one caller at a time trims.
/// </summary>
internal sealed class RecentRemovals(TimeSpan window, int limit, TimeProvider time)
{
    private readonly ConcurrentQueue<(long At, Removal Removal)> _items = new();
    private readonly long _window = (long)(window.TotalSeconds * time.TimestampFrequency);
    private int _size;
    private int _trimming;
    private long _incompleteUntil;

    /// <summary>Gets whether nothing would be delivered again: nothing was removed within the window, and the window lost nothing.</summary>
    public bool IsEmpty => Volatile.Read(ref _size) == 0 && time.GetTimestamp() >= Interlocked.Read(ref _incompleteUntil);

    public void Add(Removal removal)
    {
        var now = time.GetTimestamp();
        _items.Enqueue((now, removal));
        if (Interlocked.Add(ref _size, removal.Size) > limit || (_items.TryPeek(out var oldest) && oldest.At < now - _window))
        {
            Trim(now);
        }
    }

    /// <summary>
    /// The removals of the window that <paramref name="routesHere"/> says belong to one server, the keys of each
    /// narrowed to that server's; null when the window dropped some, so that only a clear of the server is safe.
    /// </summary>
    public List<Removal>? For(Func<string, bool> routesHere)
    {
        var now = time.GetTimestamp();
        Trim(now);
        if (now < Interlocked.Read(ref _incompleteUntil))
        {
            return null;
        }

        var replay = new List<Removal>();
        foreach (var (at, removal) in _items)
        {
            if (at < now - _window)
            {
                continue;
            }

            switch (removal.Kind)
            {
                case RemovalKind.Keys:
                    var keys = removal.Keys.Where(routesHere).ToArray();
                    if (keys.Length > 0)
                    {
                        replay.Add(keys.Length == removal.Keys.Length ? removal : Removal.OfKeys(keys));
                    }

                    break;
                case RemovalKind.Tag when routesHere(removal.Tag.Routing):
                    replay.Add(removal);
                    break;
                case RemovalKind.Clear:
                    replay.Add(removal);
                    break;
            }
        }

        return replay;
    }

    /// <summary>Drops what left the window, then the oldest while over the bound (the window is then incomplete until they would have left it).</summary>
    private void Trim(long now)
    {
        if (Interlocked.CompareExchange(ref _trimming, 1, 0) != 0)
        {
            return;
        }

        try
        {
            while (_items.TryPeek(out var oldest) && (oldest.At < now - _window || Volatile.Read(ref _size) > limit))
            {
                // The window is marked incomplete before the removal leaves it, so that no replay misses it unawares.
                if (oldest.At >= now - _window && oldest.At + _window > Interlocked.Read(ref _incompleteUntil))
                {
                    Interlocked.Exchange(ref _incompleteUntil, oldest.At + _window);
                }

                if (_items.TryDequeue(out oldest))
                {
                    Interlocked.Add(ref _size, -oldest.Removal.Size);
                }
            }
        }
        finally
        {
            Volatile.Write(ref _trimming, 0);
        }
    }
}
