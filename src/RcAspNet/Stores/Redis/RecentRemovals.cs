namespace RcAspNet.Stores.Redis;

/// <summary>
/// The removals a store made lately, delivered or kept, and the writes that replaced a value, remembered for
/// <c>Rc:RemovalReplayWindow</c> so that they can be delivered again to a server that may have lost them after
/// acknowledging them: one that restarted from its disk (a new <c>run_id</c>), or a replica that became a primary before
/// it had them. The window reaches back from the moment the server was first suspected, not from its return: while
/// <paramref name="holdFrom"/> names an earlier moment (a server is still unverified), nothing newer than the window
/// before it leaves. Bounded by <c>Rc:PendingRemovalLimit</c> keys: when more were made, the window is incomplete for
/// a replay that reaches back past what was dropped, and that replay clears instead. One short lock guards a queue (a
/// <c>ConcurrentQueue</c> that is peeked keeps no segment for reuse: it cost an array per few writes). The same log, of <see cref="RemovalKind.Members"/>, remembers which entries were registered under
/// a tag, for a tag's server that may have lost the registration.
/// </summary>
/// <param name="window">How long a server may lose what it acknowledged.</param>
/// <param name="limit">How many keys are remembered at most.</param>
/// <param name="time">The clock.</param>
/// <param name="holdFrom">The moment the earliest unverified server was first suspected, or <see cref="long.MaxValue"/>.</param>
internal sealed class RecentRemovals(TimeSpan window, int limit, TimeProvider time, Func<long> holdFrom)
{
    private readonly Queue<Entry> _items = new();
    private readonly Lock _gate = new();
    private readonly long _window = TimestampSpan.Of(window, time);
    private int _size;
    private long _droppedNewest = long.MinValue;

    /// <summary>Gets whether nothing would be delivered again: nothing was removed within the window, and the window lost nothing.</summary>
    public bool IsEmpty => Volatile.Read(ref _size) == 0 && Volatile.Read(ref _droppedNewest) < time.GetTimestamp() - _window;

    public void Add(Removal removal) => Add(null, removal);

    /// <summary>Remembers the removal of one key (a write that replaced its value), with no <see cref="Removal"/> made unless it is replayed.</summary>
    public void Add(string key) => Add(key, null);

    /// <summary>
    /// The removals of the window before <paramref name="since"/> (or before now, if earlier) that
    /// <paramref name="routesHere"/> says belong to one server, the keys of each narrowed to that server's; null when
    /// the window dropped some, so that only a clear of the server is safe.
    /// </summary>
    public List<Removal>? For(Func<string, bool> routesHere, long since)
    {
        var now = time.GetTimestamp();
        Trim(now);
        var from = Math.Min(now, since) - _window;
        Entry[] items;
        lock (_gate)
        {
            if (_droppedNewest >= from)
            {
                return null;
            }

            items = [.. _items];
        }

        var replay = new List<Removal>();
        foreach (var (at, key, removal) in items)
        {
            if (at < from)
            {
                continue;
            }

            if (key is not null)
            {
                if (routesHere(key))
                {
                    replay.Add(Removal.OfKey(key));
                }

                continue;
            }

            switch (removal!.Kind)
            {
                case RemovalKind.Keys:
                    var keys = removal.Keys.Where(routesHere).ToArray();
                    if (keys.Length > 0)
                    {
                        replay.Add(keys.Length == removal.Keys.Length ? removal : Removal.OfKeys(keys));
                    }

                    break;
                case RemovalKind.Tag or RemovalKind.Members when routesHere(removal.Tag.Routing):
                    replay.Add(removal);
                    break;
                case RemovalKind.Clear:
                    replay.Add(removal);
                    break;
            }
        }

        return replay;
    }

    private void Add(string? key, Removal? removal)
    {
        long now;
        lock (_gate)
        {
            // Stamped under the lock, so that the queue is in time order. Over the bound (every write, once writes
            // outpace it), the oldest are dropped here, under the same lock: the window's own trim is needed only
            // once the oldest has left it.
            now = time.GetTimestamp();
            var entry = new Entry(now, key, removal);
            _items.Enqueue(entry);
            _size += entry.Size;
            if (_size > limit)
            {
                DropOldest(long.MinValue);
            }

            if (!_items.TryPeek(out var oldest) || oldest.At >= now - _window)
            {
                return;
            }
        }

        Trim(now);
    }

    /// <summary>Drops what left the window (held back while a server is unverified), then the oldest while over the bound, remembering the newest it dropped.</summary>
    private void Trim(long now)
    {
        var before = Math.Min(now, holdFrom()) - _window;
        lock (_gate)
        {
            DropOldest(before);
        }
    }

    /// <summary>Drops, under the lock, entries older than <paramref name="before"/> and then the oldest while over the bound.</summary>
    private void DropOldest(long before)
    {
        while (_items.TryPeek(out var oldest) && (oldest.At < before || _size > limit))
        {
            // Every drop is marked, including one past the window: a replay may reach back further than the hold did
            // (a cluster primary whose slots moved before it was suspected). Marked before the size falls, so that
            // IsEmpty, read outside the lock, never sees an empty log that lost nothing.
            if (oldest.At > _droppedNewest)
            {
                Volatile.Write(ref _droppedNewest, oldest.At);
            }

            _items.Dequeue();
            _size -= oldest.Size;
        }
    }

    /// <summary>One removal remembered: one key's, or any other.</summary>
    private readonly record struct Entry(long At, string? Key, Removal? Removal)
    {
        public int Size => Removal?.Size ?? 1;
    }
}
