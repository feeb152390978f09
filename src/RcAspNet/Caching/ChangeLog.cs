using System.Collections.Concurrent;

namespace RcAspNet.Caching;

/// <summary>
/// What this process changed while loads were under way (<see cref="CacheNamespace.ChangeMark"/>), one log for every
/// namespace of the app: two caches may map one key (a named cache's namespace lies under the default one, whose clear
/// covers it, and two caches may be given one namespace), and a removal through either must keep the other's loads from
/// being joined after it or written over it. Keys are namespaced; a tag is its namespace's. A clear moves every mark:
/// it is rare, and a load it makes unjoinable or unwritten costs a miss.
/// </summary>
internal sealed class ChangeLog
{
    // What this process changed, by stripe of keys, and how often it cleared a namespace.
    private readonly long[] _changes = new long[KeyStripes.Count];
    private long _clears;

    // The keys a load of this process is under way for, whose changes are counted per key (ChangeMark): a change to
    // another key of a stripe never makes such a load unjoinable, nor drops its fill. Stamped from one clock, so that a
    // key watched again never repeats a mark it had.
    private readonly ConcurrentDictionary<string, KeyWatch> _watched = new(StringComparer.Ordinal);
    private long _clock;
    private int _watchedCount; // changed under the lock; a change reads it first, to skip the lookup when no load runs

    // Likewise the tags of those loads, by namespace, whose invalidations are counted per tag (TagMark).
    private readonly ConcurrentDictionary<(string Prefix, string Tag), KeyWatch> _watchedTags = new();
    private int _watchedTagCount;

    private readonly Lock _gate = new();

    /// <inheritdoc cref="CacheNamespace.ChangeMark"/>
    public long ChangeMark(string namespacedKey) => _watched.TryGetValue(namespacedKey, out var watch)
        ? -1 - Volatile.Read(ref watch.LastChange) - Volatile.Read(ref _clears)
        : Volatile.Read(ref _changes[KeyStripes.Of(namespacedKey)]) + Volatile.Read(ref _clears);

    /// <summary>Gets how many keys and tags loads of this process watch (for tests).</summary>
    public int Watches => Volatile.Read(ref _watchedCount) + Volatile.Read(ref _watchedTagCount);

    /// <inheritdoc cref="CacheNamespace.Watch"/>
    public void Watch(string namespacedKey, string prefix, IReadOnlyList<string>? tags)
    {
        lock (_gate)
        {
            Hold(_watched, namespacedKey, ref _watchedCount);
            for (var i = 0; tags is not null && i < tags.Count; i++)
            {
                if (tags[i] is { } tag)
                {
                    // (A null tag fails the load, which then unwatches what it watched.)
                    Hold(_watchedTags, (prefix, tag), ref _watchedTagCount);
                }
            }
        }
    }

    /// <inheritdoc cref="CacheNamespace.Unwatch"/>
    public void Unwatch(string namespacedKey, string prefix, IReadOnlyList<string>? tags)
    {
        lock (_gate)
        {
            Release(_watched, namespacedKey, ref _watchedCount);
            for (var i = 0; tags is not null && i < tags.Count; i++)
            {
                if (tags[i] is { } tag)
                {
                    Release(_watchedTags, (prefix, tag), ref _watchedTagCount);
                }
            }
        }
    }

    /// <summary>This process is about to replace or remove <paramref name="namespacedKey"/>: loads begun before are not written over it, nor joined.</summary>
    public void Changed(string namespacedKey)
    {
        Interlocked.Increment(ref _changes[KeyStripes.Of(namespacedKey)]);
        Landed(namespacedKey);
    }

    /// <summary>
    /// A removal of <paramref name="namespacedKey"/> by this process landed (its store call returned, whatever it answered).
    /// A load of the key that began while the removal was on its way took its mark after <see cref="Changed"/> counted it,
    /// yet its read may have reached the store first: the removal is counted again, so that a read that begins after it
    /// returned (and misses) never joins such a load, nor is its value written over the removal. (A replacing write is
    /// not counted again, which would cost every write a step: a read after it finds the new value, and a fill writes
    /// only where the key holds what its load read.)
    /// </summary>
    public void Landed(string namespacedKey)
    {
        if (Volatile.Read(ref _watchedCount) != 0 && _watched.TryGetValue(namespacedKey, out var watch))
        {
            Stamp(watch);
        }
    }

    /// <summary>This process clears a namespace, or its clear landed: every mark moves.</summary>
    public void Cleared() => Interlocked.Increment(ref _clears);

    /// <summary>This process invalidates <paramref name="tag"/> of the namespace <paramref name="prefix"/>, or its invalidation landed.</summary>
    public void TagChanged(string prefix, string tag)
    {
        if (Volatile.Read(ref _watchedTagCount) != 0 && _watchedTags.TryGetValue((prefix, tag), out var watch))
        {
            Stamp(watch);
        }
    }

    /// <inheritdoc cref="CacheNamespace.TagMark"/>
    public long TagMark(string prefix, IReadOnlyList<string>? tags) =>
        tags is { Count: > 0 } && Volatile.Read(ref _watchedTagCount) != 0 && WatchedStamps(prefix, tags) is { } stamps ? -1 - stamps : 0;

    /// <summary>The sum of <paramref name="tags"/>' stamps when every one is watched, else null.</summary>
    private long? WatchedStamps(string prefix, IReadOnlyList<string> tags)
    {
        var stamps = 0L;
        for (var i = 0; i < tags.Count; i++)
        {
            if (tags[i] is not { } tag || !_watchedTags.TryGetValue((prefix, tag), out var watch))
            {
                return null;
            }

            stamps += Volatile.Read(ref watch.LastChange);
        }

        return stamps;
    }

    private void Hold<TName>(ConcurrentDictionary<TName, KeyWatch> watches, TName name, ref int count)
        where TName : notnull
    {
        if (watches.TryGetValue(name, out var watch))
        {
            watch.Holders++;
        }
        else
        {
            // A stamp of its own: above every earlier one, so that a key or tag watched again never repeats a mark.
            watches[name] = new KeyWatch { Holders = 1, LastChange = Interlocked.Increment(ref _clock) };
            Volatile.Write(ref count, count + 1);
        }
    }

    private static void Release<TName>(ConcurrentDictionary<TName, KeyWatch> watches, TName name, ref int count)
        where TName : notnull
    {
        if (watches.TryGetValue(name, out var watch) && --watch.Holders == 0)
        {
            watches.TryRemove(name, out _);
            Volatile.Write(ref count, count - 1);
        }
    }

    /// <summary>
    /// Records a change of a watched key or tag. Raised, never lowered: two changes at once must not leave the earlier
    /// stamp, which with a clear between would sum to a mark seen before.
    /// </summary>
    private void Stamp(KeyWatch watch)
    {
        var stamp = Interlocked.Increment(ref _clock);
        for (var seen = Volatile.Read(ref watch.LastChange); seen < stamp;)
        {
            var was = Interlocked.CompareExchange(ref watch.LastChange, stamp, seen);
            seen = was == seen ? stamp : was;
        }
    }
}
