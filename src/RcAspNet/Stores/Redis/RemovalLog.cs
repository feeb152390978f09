using System.Runtime.CompilerServices;

namespace RcAspNet.Stores.Redis;

/// <summary>
/// The removals kept for one server, in the order they were made, bounded by <c>Rc:PendingRemovalLimit</c>: past the
/// bound, its keys collapse into one clear of the store's namespaces on that server, delivered after its tags. A key is
/// kept once however often it is removed meanwhile (but a removal made while an earlier one of the same key is being
/// delivered is kept again: that delivery may have reached the server before it). A tag is kept once only while neither
/// its kept invalidation nor the new one was sent: one that was sent and not acknowledged may have been applied, moving
/// the members it found and changing the version to its own, so sending it again moves nothing registered since, and a
/// later invalidation must be delivered on its own. Every member but
/// <see cref="Size"/> is called under the lock of the node it belongs to (<see cref="RedisNode.Sync"/>).
/// </summary>
internal sealed class RemovalLog(int limit, string[] prefixes, StrongBox<int> storeTags)
{
    private readonly List<Removal> _items = [];
    private readonly Dictionary<string, int> _tags = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Removal> _unsentTags = new(StringComparer.Ordinal);
    private readonly HashSet<string> _keys = new(StringComparer.Ordinal);
    private readonly HashSet<Removal> _delivering = [];
    private int _size;
    private int _tagCount;

    /// <summary>Gets the store's namespaces (key prefixes), which a clear that keys collapse into clears.</summary>
    public string[] Prefixes => prefixes;

    /// <summary>Gets how many removals are kept (keys, and tags and clears counted once), read without the lock.</summary>
    public int Size => Volatile.Read(ref _size);

    public bool IsEmpty => _items.Count == 0;

    /// <summary>Gets the clear kept for the server, being delivered or not, if there is one.</summary>
    public Removal? AnyClear => _items.Find(static r => r.Kind == RemovalKind.Clear);

    /// <summary>Gets the clear kept for the server, if there is one that is not being delivered.</summary>
    public Removal? Clear => _items.Find(r => r.Kind == RemovalKind.Clear && !_delivering.Contains(r));

    /// <summary>Keeps <paramref name="removal"/>; returns true when it passed the bound, so that the keys collapsed into a clear.</summary>
    /// <param name="removal">The removal.</param>
    /// <param name="unsent">Whether it was never sent to the server (its circuit was open): the server cannot have applied it.</param>
    public bool Add(Removal removal, bool unsent = false)
    {
        switch (removal.Kind)
        {
            case RemovalKind.Tag when unsent && !removal.IsBumped && _unsentTags.TryGetValue(removal.Tag.Routing, out var kept) && !_delivering.Contains(kept):
                // Invalidated again before the first invalidation was sent: one delivery does for both.
                return false;
            case RemovalKind.Tag when unsent && !removal.IsBumped:
                _unsentTags.TryAdd(removal.Tag.Routing, removal);
                break;
            case RemovalKind.Keys when _delivering.Count == 0 && removal.Keys.Any(_keys.Contains):
                var fresh = removal.Keys.Where(k => !_keys.Contains(k)).ToArray();
                if (fresh.Length == 0)
                {
                    return false;
                }

                removal = Removal.OfKeys(fresh);
                break;
            case RemovalKind.Clear when Clear is { } clear:
                // One clear of every namespace asked for does for both.
                Put(_items.IndexOf(clear), Removal.OfClear([.. clear.Keys.Union(removal.Keys, StringComparer.Ordinal)]));
                return false;
        }

        _items.Add(removal);
        Grow(removal, 1);
        if (Size <= limit || !_items.Any(r => r.Kind == RemovalKind.Keys && !_delivering.Contains(r)))
        {
            return false;
        }

        // Past the bound: one clear of the namespaces replaces every key kept. Tags are kept, and delivered before the
        // clear: each one's invalidation changes its version, which a clear changes only for the tags whose members set
        // it finds on the server. Removals being delivered stay where they are.
        for (var i = _items.Count - 1; i >= 0; i--)
        {
            if (_items[i].Kind is RemovalKind.Keys or RemovalKind.Clear && !_delivering.Contains(_items[i]))
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

    /// <summary>
    /// Returns what to deliver next, which stays kept until <see cref="Delivered"/>: the first removal, or when it deletes
    /// keys, it and the removals of keys right after it, up to <paramref name="keys"/> keys, to be sent together; empty
    /// when none is left.
    /// </summary>
    public List<Removal> Next(int keys)
    {
        var next = new List<Removal>();
        var count = 0;
        foreach (var removal in _items)
        {
            if (next.Count > 0 && (removal.Kind != RemovalKind.Keys || next[0].Kind != RemovalKind.Keys || count + removal.Size > keys))
            {
                break;
            }

            next.Add(removal);
            count += removal.Size;
        }

        _delivering.UnionWith(next);
        foreach (var removal in next)
        {
            // Sent now: the server may apply it even if this delivery fails, so no later invalidation merges into it.
            Unindex(removal);
        }

        return next;
    }

    /// <summary>What <see cref="Next"/> returned could not be delivered; it stays first.</summary>
    public void Abandon() => _delivering.Clear();

    /// <summary>The server acknowledged what <see cref="Next"/> returned (and what replaced it since).</summary>
    public void Delivered()
    {
        foreach (var removal in _delivering)
        {
            if (_items.Remove(removal))
            {
                Grow(removal, -1);
            }
        }

        _delivering.Clear();
    }

    /// <summary>Replaces a removal being delivered by what is left of it (a tag whose version changed, but whose members are still to go).</summary>
    public void Replace(Removal removal, Removal rest)
    {
        Put(_items.IndexOf(removal), rest);
        if (_delivering.Remove(removal))
        {
            _delivering.Add(rest);
        }
    }

    /// <summary>Whether an invalidation of the tag routed by <paramref name="routing"/> is kept, its version not changed yet or its members not all deleted.</summary>
    public bool HasTag(string routing) => _tagCount > 0 && _tags.ContainsKey(routing);

    /// <summary>The removals that could move to another server (tags and keys not being delivered), to decide outside the lock where each goes.</summary>
    public List<Removal> Movable() => _items.FindAll(r => r.Kind != RemovalKind.Clear && !_delivering.Contains(r));

    /// <summary>Takes out <paramref name="removal"/>, or only its <paramref name="keys"/>, if it is still kept and not being delivered; returns whether it did.</summary>
    public bool Take(Removal removal, IReadOnlyCollection<string>? keys)
    {
        var index = _items.IndexOf(removal);
        if (index < 0 || _delivering.Contains(removal))
        {
            return false;
        }

        if (keys is null || keys.Count == removal.Keys.Length)
        {
            Grow(removal, -1);
            _items.RemoveAt(index);
            return true;
        }

        Put(index, Removal.OfKeys([.. removal.Keys.Except(keys, StringComparer.Ordinal)]));
        return true;
    }

    /// <summary>Takes out the clear, if one is kept and not being delivered.</summary>
    public bool TakeClear()
    {
        if (Clear is not { } clear)
        {
            return false;
        }

        Grow(clear, -1);
        _items.Remove(clear);
        return true;
    }

    private void Put(int index, Removal removal)
    {
        if (index < 0)
        {
            return;
        }

        Grow(_items[index], -1);
        _items[index] = removal;
        Grow(removal, 1);
    }

    /// <summary>Takes <paramref name="removal"/> out of the never-sent tag invalidations, if it is the one kept for its tag.</summary>
    private void Unindex(Removal removal)
    {
        if (removal.Kind == RemovalKind.Tag && _unsentTags.TryGetValue(removal.Tag.Routing, out var indexed) && indexed == removal)
        {
            _unsentTags.Remove(removal.Tag.Routing);
        }
    }

    private void Grow(Removal removal, int sign)
    {
        Volatile.Write(ref _size, _size + (sign * removal.Size));
        switch (removal.Kind)
        {
            case RemovalKind.Keys:
                foreach (var key in removal.Keys)
                {
                    // A key in two kept removals (one kept while the other was delivered) counts once: dedup is a hint.
                    _ = sign > 0 ? _keys.Add(key) : _keys.Remove(key);
                }

                break;
            case RemovalKind.Tag:
                Volatile.Write(ref _tagCount, _tagCount + sign);
                Interlocked.Add(ref storeTags.Value, sign);
                var count = _tags.GetValueOrDefault(removal.Tag.Routing) + sign;
                if (count > 0)
                {
                    _tags[removal.Tag.Routing] = count;
                }
                else
                {
                    _tags.Remove(removal.Tag.Routing);
                }

                if (sign < 0)
                {
                    Unindex(removal);
                }

                break;
        }
    }
}
