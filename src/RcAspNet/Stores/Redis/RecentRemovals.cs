namespace RcAspNet.Stores.Redis;

/// <summary>
/// The removals a store made lately, delivered or kept, remembered for <c>Rc:RemovalReplayWindow</c> so that they can
/// be delivered again to a server that may have lost them after acknowledging them: one that restarted from its disk
/// (a new <c>run_id</c>), or a replica that became a primary before it had them. Bounded by
/// <c>Rc:PendingRemovalLimit</c> keys: when more were made within the window, the window is incomplete, and a replay
/// clears the server's namespaces instead.
/// </summary>
internal sealed class RecentRemovals(TimeSpan window, int limit, TimeProvider time)
{
    private readonly Queue<(long At, Removal Removal)> _items = new();
    private readonly Lock _lock = new();
    private int _size;
    private long _incompleteUntil;

    /// <summary>Gets whether nothing was removed within the window, read without the lock (a hint).</summary>
    public bool IsEmpty => Volatile.Read(ref _size) == 0;

    public void Add(Removal removal)
    {
        var now = time.GetTimestamp();
        lock (_lock)
        {
            Trim(now);
            _items.Enqueue((now, removal));
            _size += removal.Size;
            while (_size > limit && _items.Count > 1)
            {
                var (at, dropped) = _items.Dequeue();
                _size -= dropped.Size;
                _incompleteUntil = Math.Max(_incompleteUntil, at + Ticks(window));
            }

            Volatile.Write(ref _size, _size);
        }
    }

    /// <summary>
    /// The removals of the window that <paramref name="routesHere"/> says belong to one server, the keys of each
    /// narrowed to that server's; null when the window dropped some, so that only a clear of the server is safe.
    /// </summary>
    public List<Removal>? For(Func<string, bool> routesHere)
    {
        var now = time.GetTimestamp();
        lock (_lock)
        {
            Trim(now);
            if (now < _incompleteUntil)
            {
                return null;
            }

            var replay = new List<Removal>();
            foreach (var (_, removal) in _items)
            {
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
    }

    private void Trim(long now)
    {
        var oldest = now - Ticks(window);
        while (_items.TryPeek(out var item) && item.At < oldest)
        {
            _items.Dequeue();
            _size -= item.Removal.Size;
        }

        Volatile.Write(ref _size, _size);
    }

    private long Ticks(TimeSpan span) => (long)(span.TotalSeconds * time.TimestampFrequency);
}
