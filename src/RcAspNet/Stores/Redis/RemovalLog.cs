using System.Runtime.CompilerServices;

namespace RcAspNet.Stores.Redis;

/// <summary>
/// The removals kept for one server, in the order they were made, bounded by <c>Rc:PendingRemovalLimit</c>: past the
/// bound, its keys collapse into one clear of the store's namespaces on that server, delivered after its tags. A key or a tag is
/// kept once however often it is removed meanwhile. Every member but <see cref="Size"/> is called under the lock of the
/// node it belongs to (<see cref="RedisNode.Sync"/>).
/// </summary>
internal sealed class RemovalLog(int limit, string[] prefixes, StrongBox<int> storeTags)
{
    private readonly List<Removal> _items = [];
    private readonly Dictionary<string, int> _tags = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _keys = new(StringComparer.Ordinal);
    private Removal? _delivering;
    private int _size;
    private int _tagCount;

    /// <summary>Gets how many removals are kept (keys, and tags and clears counted once), read without the lock.</summary>
    public int Size => Volatile.Read(ref _size);

    public bool IsEmpty => _items.Count == 0;

    /// <summary>Keeps <paramref name="removal"/>; returns true when it passed the bound, so that the keys collapsed into a clear.</summary>
    public bool Add(Removal removal)
    {
        if (removal.Kind == RemovalKind.Tag && !removal.IsBumped
            && _items.Any(r => !r.IsBumped && r.Kind == RemovalKind.Tag && r != _delivering && r.Tag.Routing == removal.Tag.Routing))
        {
            // Invalidated again before the first invalidation was delivered: one delivery does for both.
            return false;
        }

        if (removal.Kind == RemovalKind.Keys && removal.Keys.Any(_keys.ContainsKey))
        {
            // Removed again before the first removal was delivered: one delivery does for both.
            var fresh = removal.Keys.Where(k => !_keys.ContainsKey(k)).ToArray();
            if (fresh.Length == 0)
            {
                return false;
            }

            removal = Removal.OfKeys(fresh);
        }

        if (removal.Kind == RemovalKind.Clear && _items.FindIndex(r => r.Kind == RemovalKind.Clear && r != _delivering) is var clear and >= 0)
        {
            // One clear of every namespace asked for does for both.
            _items[clear] = Removal.OfClear([.. _items[clear].Keys.Union(removal.Keys, StringComparer.Ordinal)]);
            return false;
        }

        _items.Add(removal);
        Grow(removal, 1);
        if (Size <= limit)
        {
            return false;
        }

        // Past the bound: one clear of the namespaces replaces every key kept. Tags are kept, and delivered before the
        // clear: their members on other servers are found only through the bookkeeping the clear deletes. A removal
        // being delivered stays first.
        var first = _delivering is not null ? 1 : 0;
        for (var i = _items.Count - 1; i >= first; i--)
        {
            if (_items[i].Kind is RemovalKind.Keys or RemovalKind.Clear)
            {
                Grow(_items[i], -1);
                _items.RemoveAt(i);
            }
        }

        var all = Removal.OfClear(prefixes);
        _items.Add(all);
        Grow(all, 1);
        return true;
    }

    /// <summary>Returns the removal to deliver next, which stays kept until <see cref="Delivered"/>; null when none is left.</summary>
    public Removal? Next() => _delivering = _items.Count > 0 ? _items[0] : null;

    /// <summary>The removal <see cref="Next"/> returned could not be delivered; it stays first.</summary>
    public void Abandon() => _delivering = null;

    /// <summary>The server acknowledged <paramref name="removal"/>.</summary>
    public void Delivered(Removal removal)
    {
        if (_items.Remove(removal))
        {
            Grow(removal, -1);
        }

        _delivering = null;
    }

    /// <summary>Replaces a removal half delivered by what is left of it (a tag whose version changed, but whose members are still to go).</summary>
    public void Replace(Removal removal, Removal rest)
    {
        var index = _items.IndexOf(removal);
        if (index >= 0)
        {
            Grow(removal, -1);
            _items[index] = rest;
            Grow(rest, 1);
        }

        _delivering = null;
    }

    /// <summary>Whether an invalidation of the tag routed by <paramref name="routing"/> is kept, its version not changed yet or its members not all deleted.</summary>
    public bool HasTag(string routing) => _tagCount > 0 && _tags.ContainsKey(routing);

    /// <summary>Takes out the removals, or the keys of them, that <paramref name="stays"/> says no longer belong to this server.</summary>
    public List<Removal> TakeWhere(Func<string, bool> stays)
    {
        var moved = new List<Removal>();
        for (var i = 0; i < _items.Count; i++)
        {
            var removal = _items[i];
            if (removal == _delivering || removal.Kind == RemovalKind.Clear)
            {
                continue;
            }

            if (removal.Kind == RemovalKind.Tag)
            {
                if (!stays(removal.Tag.Routing))
                {
                    moved.Add(removal);
                    Grow(removal, -1);
                    _items.RemoveAt(i--);
                }

                continue;
            }

            var leaving = removal.Keys.Where(k => !stays(k)).ToArray();
            if (leaving.Length == 0)
            {
                continue;
            }

            moved.Add(Removal.OfKeys(leaving));
            Grow(removal, -1);
            if (leaving.Length == removal.Keys.Length)
            {
                _items.RemoveAt(i--);
            }
            else
            {
                _items[i] = Removal.OfKeys([.. removal.Keys.Where(stays)]);
                Grow(_items[i], 1);
            }
        }

        return moved;
    }

    private void Grow(Removal removal, int sign)
    {
        Volatile.Write(ref _size, _size + (sign * removal.Size));
        if (removal.Kind == RemovalKind.Keys)
        {
            foreach (var key in removal.Keys)
            {
                Count(_keys, key, sign);
            }

            return;
        }

        if (removal.Kind != RemovalKind.Tag)
        {
            return;
        }

        Volatile.Write(ref _tagCount, _tagCount + sign);
        Interlocked.Add(ref storeTags.Value, sign);
        Count(_tags, removal.Tag.Routing, sign);
    }

    private static void Count(Dictionary<string, int> counts, string name, int sign)
    {
        var count = counts.GetValueOrDefault(name) + sign;
        if (count > 0)
        {
            counts[name] = count;
        }
        else
        {
            counts.Remove(name);
        }
    }
}
