using System.Collections.Concurrent;

namespace RcAspNet.Stores.Near;

/// <summary>
/// The in-process copies of values read from Redis, shared by every Redis-backed store of an application and bounded in
/// bytes. A copy is served only while the invalidation link of its server is up in the epoch it was read in, and until
/// the key's TTL in Redis runs out. A read fills it only when no invalidation of the key arrived between the moment the
/// read was sent and the moment its answer is kept (<see cref="BeginRead"/>, <see cref="Complete"/>), so an answer that
/// an invalidation overtook is never kept.
/// </summary>
internal sealed class NearCopies(long sizeLimit, TimeProvider time)
{
    private const int Stripes = 64;

    private readonly ConcurrentDictionary<string, NearEntry> _entries = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _reads = new(StringComparer.Ordinal);
    private readonly object[] _stripes = [.. Enumerable.Range(0, Stripes).Select(static _ => new object())];
    private readonly Lock _compaction = new();
    private long _size;
    private long _tickets;

    /// <summary>Gets the bytes of the copies held now.</summary>
    public long Size => Interlocked.Read(ref _size);

    public int Count => _entries.Count;

    /// <summary>Returns the copy of <paramref name="key"/> when one is valid for <paramref name="link"/> now.</summary>
    public bool TryGet(string key, InvalidationLink link, out byte[]? value)
    {
        value = null;
        if (!_entries.TryGetValue(key, out var entry))
        {
            return false;
        }

        var now = time.GetUtcNow().UtcTicks;
        if (!ReferenceEquals(entry.Link, link) || entry.Epoch != link.Epoch || !link.IsUp || now >= entry.ExpiresAt)
        {
            Remove(entry);
            return false;
        }

        entry.Used(now);
        value = entry.Value;
        return true;
    }

    /// <summary>Marks a read of <paramref name="key"/> from Redis as begun; null when the link is down (nothing is kept then).</summary>
    public NearRead? BeginRead(string key, InvalidationLink link)
    {
        var epoch = link.Epoch;
        if (!link.IsUp)
        {
            return null;
        }

        var read = new NearRead(key, link, epoch, Interlocked.Increment(ref _tickets));
        _reads[key] = read.Ticket;
        return read;
    }

    /// <summary>Keeps what the read found, unless an invalidation arrived since it began, a later read took over, or the link went down.</summary>
    public void Complete(NearRead read, byte[]? value, TimeSpan timeToLive)
    {
        lock (Stripe(read.Key))
        {
            if (!_reads.TryRemove(new KeyValuePair<string, long>(read.Key, read.Ticket))
                || value is null || timeToLive <= TimeSpan.Zero || !read.Link.IsUp || read.Link.Epoch != read.Epoch)
            {
                return;
            }

            var now = time.GetUtcNow().UtcTicks;
            var entry = new NearEntry(read.Key, value, read.Link, read.Epoch, now + timeToLive.Ticks, now);
            if (entry.Size > sizeLimit)
            {
                return;
            }

            // Only Complete adds, always under the key's stripe: nothing else can put a copy between these two lines.
            if (_entries.TryRemove(read.Key, out var old))
            {
                Interlocked.Add(ref _size, -old.Size);
            }

            _entries[read.Key] = entry;
            Interlocked.Add(ref _size, entry.Size);
        }

        if (Interlocked.Read(ref _size) > sizeLimit)
        {
            Compact();
        }
    }

    /// <summary>Forgets a read that failed or was cancelled.</summary>
    public void Abandon(NearRead read) => _reads.TryRemove(new KeyValuePair<string, long>(read.Key, read.Ticket));

    /// <summary>Redis said <paramref name="key"/> changed (or this node is changing it): its copy and any read under way are dropped.</summary>
    public void Invalidate(string key)
    {
        lock (Stripe(key))
        {
            _reads.TryRemove(key, out _);
            if (_entries.TryRemove(key, out var entry))
            {
                Interlocked.Add(ref _size, -entry.Size);
            }
        }
    }

    private void Remove(NearEntry entry)
    {
        if (_entries.TryRemove(new KeyValuePair<string, NearEntry>(entry.Key, entry)))
        {
            Interlocked.Add(ref _size, -entry.Size);
        }
    }

    private object Stripe(string key) => _stripes[(key.GetHashCode(StringComparison.Ordinal) & int.MaxValue) % Stripes];

    /// <summary>Drops invalid and expired copies, then copies in eviction order, down to 90% of the limit.</summary>
    private void Compact()
    {
        lock (_compaction)
        {
            var now = time.GetUtcNow().UtcTicks;
            var live = new List<NearEntry>(_entries.Count);
            foreach (var (_, entry) in _entries)
            {
                if (now >= entry.ExpiresAt || entry.Epoch != entry.Link.Epoch || !entry.Link.IsUp)
                {
                    Remove(entry);
                }
                else
                {
                    live.Add(entry);
                }
            }

            Eviction.ShrinkTo(live, sizeLimit / 10 * 9, () => Interlocked.Read(ref _size), Remove);
        }
    }
}
