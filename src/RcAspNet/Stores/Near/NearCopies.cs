using System.Collections.Concurrent;
using RcAspNet.Stores.Redis;

namespace RcAspNet.Stores.Near;

/// <summary>
/// The in-process copies of values read from Redis, shared by every Redis-backed store of an application and bounded in
/// bytes. A copy is served only while the invalidation link of its server is up in the epoch it was read in, and until
/// the key's TTL in Redis runs out. A read fills it only when nothing says the answer may be out of date by the time it
/// is kept (<see cref="BeginRead"/>, <see cref="Complete"/>): no invalidation of the key arrived since the read began,
/// and no other read of the key that overlapped it, or that this node made meanwhile without the near cache
/// (<see cref="Observe"/>), saw a different value. Two reads on their way at once may be answered in either order, so
/// when they disagree neither is kept: the node never serves a value older than one it already returned.
/// </summary>
internal sealed class NearCopies(long sizeLimit, TimeProvider time)
{
    private const int Stripes = 64;
    private const int WatcherLimit = 10_000;

    private readonly ConcurrentDictionary<string, NearEntry> _entries = new(StringComparer.Ordinal);
    // The reads under way, a table per stripe of keys: each is changed, and locked, only by reads of its own keys.
    private readonly Dictionary<string, ReadsUnderWay>[] _reads = [.. Enumerable.Range(0, Stripes).Select(static _ => new Dictionary<string, ReadsUnderWay>(StringComparer.Ordinal))];
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _watchers = new(StringComparer.Ordinal);
    private readonly Lock _compaction = new();
    private readonly long _origin = time.GetTimestamp();
    private long _size;

    /// <summary>Gets the bytes of the copies held now.</summary>
    public long Size => Interlocked.Read(ref _size);

    public int Count => _entries.Count;

    /// <summary>Returns the copy of <paramref name="key"/> when one is valid for <paramref name="link"/> now.</summary>
    public bool TryGet(string key, ServerLink link, out byte[]? value)
    {
        value = null;
        if (!_entries.TryGetValue(key, out var entry))
        {
            return false;
        }

        var now = Now();
        if (!ReferenceEquals(entry.Link, link) || entry.Epoch != link.Epoch || !link.IsUp || now >= entry.ExpiresAt)
        {
            Remove(entry);
            return false;
        }

        if (!link.Vouches)
        {
            // The link has not kept up lately: invalidations may be waiting unread. The copy is served again once it has.
            return false;
        }

        entry.Used(now);
        value = entry.Value;
        return true;
    }

    /// <summary>Marks a read of <paramref name="key"/> from Redis as begun; null when the link is down (nothing is kept then).</summary>
    public NearRead? BeginRead(string key, ServerLink link)
    {
        var epoch = link.Epoch;
        if (!link.IsUp)
        {
            return null;
        }

        var stripe = Stripe(key);
        lock (stripe)
        {
            if (!stripe.TryGetValue(key, out var reads))
            {
                stripe[key] = reads = new ReadsUnderWay();
            }

            reads.Count++;
            return new NearRead(key, link, epoch, reads, Now());
        }
    }

    /// <summary>
    /// Ends a read with what Redis answered, and keeps it unless an invalidation arrived since it began, a read that
    /// overlapped it saw another value, or the link went down. Called once per read, before its answer is returned.
    /// </summary>
    public void Complete(NearRead read, byte[]? value, TimeSpan timeToLive)
    {
        var stripe = Stripe(read.Key);
        lock (stripe)
        {
            var reads = read.Reads;
            End(stripe, read);
            Saw(stripe, read.Key, reads, value);
            if (reads.Disagree || value is null || timeToLive <= TimeSpan.Zero || !read.Link.IsUp || read.Link.Epoch != read.Epoch || !read.Link.Vouches)
            {
                // Not kept; nor is a copy kept before that differs from what Redis just answered (Observe), which a link
                // that is not vouching now would serve again once it is.
                if (_entries.TryGetValue(read.Key, out var kept) && !Same(kept.Value, value))
                {
                    Remove(kept);
                }

                return;
            }

            // The TTL was read on the server somewhere between sending and now: counted from the send, the copy never
            // outlives the key by the time its reply took.
            var now = Now();
            var expiresAt = timeToLive.Ticks >= long.MaxValue - read.Began ? long.MaxValue : read.Began + timeToLive.Ticks;
            var entry = new NearEntry(read.Key, value, read.Link, read.Epoch, expiresAt, now);
            if (entry.Size > sizeLimit)
            {
                // Too large to keep; nor is an older copy kept that differs from it (as above).
                if (_entries.TryGetValue(read.Key, out var older) && !Same(older.Value, value))
                {
                    Remove(older);
                }

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

    /// <summary>Ends a read that failed or was cancelled: it says nothing about the value.</summary>
    public void Abandon(NearRead read)
    {
        var stripe = Stripe(read.Key);
        lock (stripe)
        {
            End(stripe, read);
        }
    }

    /// <summary>
    /// This node read <paramref name="value"/> for <paramref name="key"/> from Redis without the near cache (a
    /// multi-key read): a copy or a read under way that disagrees with it goes.
    /// </summary>
    public void Observe(string key, byte[]? value)
    {
        var stripe = Stripe(key);
        lock (stripe)
        {
            if (stripe.TryGetValue(key, out var reads))
            {
                Saw(stripe, key, reads, value);
            }

            if (_entries.TryGetValue(key, out var entry) && !Same(entry.Value, value))
            {
                Remove(entry);
            }
        }
    }

    /// <summary>
    /// A task that completes the next time <paramref name="key"/> is invalidated (a fleet waiter wakes on it). A key whose
    /// load failed everywhere may never change: past <see cref="WatcherLimit"/> keys watched, every watcher is woken and
    /// forgotten (a woken waiter reads the key and watches again; its polls back it up meanwhile).
    /// </summary>
    public Task Changed(string key)
    {
        if (_watchers.TryGetValue(key, out var watcher))
        {
            return watcher.Task;
        }

        if (_watchers.Count >= WatcherLimit)
        {
            foreach (var watched in _watchers.Keys)
            {
                if (_watchers.TryRemove(watched, out var old))
                {
                    old.TrySetResult();
                }
            }
        }

        return _watchers.GetOrAdd(key, static _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
    }

    /// <summary>Redis said <paramref name="key"/> changed (or this node is changing it): its copy and any read under way are dropped.</summary>
    public void Invalidate(string key)
    {
        if (!_watchers.IsEmpty && _watchers.TryRemove(key, out var watcher))
        {
            watcher.TrySetResult();
        }

        var stripe = Stripe(key);
        lock (stripe)
        {
            if (stripe.Remove(key, out var reads))
            {
                // The reads under way keep their record, which keeps none of them; reads begun from now on start anew.
                reads.Disagree = true;
            }

            if (_entries.TryRemove(key, out var entry))
            {
                Interlocked.Add(ref _size, -entry.Size);
            }
        }
    }

    private static bool Same(byte[]? a, byte[]? b) => a is null ? b is null : b is not null && a.AsSpan().SequenceEqual(b);

    /// <summary>Under the key's stripe: one read of the group ended.</summary>
    private static void End(Dictionary<string, ReadsUnderWay> stripe, NearRead read)
    {
        if (read.End() && --read.Reads.Count == 0 && stripe.TryGetValue(read.Key, out var current) && ReferenceEquals(current, read.Reads))
        {
            stripe.Remove(read.Key);
        }
    }

    /// <summary>Under the key's stripe: a read of the group saw <paramref name="value"/>; on a disagreement, no read of the group is kept and the copy goes.</summary>
    private void Saw(Dictionary<string, ReadsUnderWay> stripe, string key, ReadsUnderWay reads, byte[]? value)
    {
        if (reads.Seen && !Same(reads.Value, value))
        {
            reads.Disagree = true;
            if (_entries.TryRemove(key, out var entry))
            {
                Interlocked.Add(ref _size, -entry.Size);
            }

            if (stripe.TryGetValue(key, out var current) && ReferenceEquals(current, reads))
            {
                stripe.Remove(key);
            }
        }

        (reads.Seen, reads.Value) = (true, value);
    }

    private void Remove(NearEntry entry)
    {
        if (_entries.TryRemove(new KeyValuePair<string, NearEntry>(entry.Key, entry)))
        {
            Interlocked.Add(ref _size, -entry.Size);
        }
    }

    /// <summary>
    /// Now, in ticks of the store's monotonic clock: a copy's expiry is counted by it, so that the wall clock stepping
    /// back never lets a copy outlive its key.
    /// </summary>
    private long Now() => time.GetElapsedTime(_origin).Ticks;

    /// <summary>The table of reads under way that holds <paramref name="key"/>'s, which is also the lock of the key's copy and reads.</summary>
    private Dictionary<string, ReadsUnderWay> Stripe(string key) => _reads[(key.GetHashCode(StringComparison.Ordinal) & int.MaxValue) % Stripes];

    /// <summary>Drops invalid and expired copies, then copies in eviction order, down to 90% of the limit.</summary>
    private void Compact()
    {
        lock (_compaction)
        {
            var now = Now();
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
