using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Globalization;
using RcAspNet.Diagnostics;

namespace RcAspNet.Stores;

/// <summary>
/// The embedded store: entries in process, with TTLs that behave as Redis's do (a read after the deadline misses, a
/// new TTL replaces the old one, a write replaces both value and TTL), bounded by a size limit past which entries are
/// evicted in <see cref="Eviction"/>'s order (never read first, then least recently read). Time comes from the
/// injected <see cref="TimeProvider"/>.
/// </summary>
internal sealed class MemoryStore : IRcStore
{
    private const int EntryOverhead = 64;

    /// <summary>How many stripes of keys share a fill lock (a power of two).</summary>
    private const int LockStripes = 256;

    /// <summary>
    /// How many stripes of keys share a count of removals (a power of two): a removal revokes the leases of its stripe,
    /// so at 5,000 removals a second a 100 ms load loses its write to another key's removal about 3 % of the time.
    /// </summary>
    private const int RemovalStripes = 16384;

    /// <summary>How many stripes of tags share a version for "none" (a power of two): see <see cref="_absent"/>.</summary>
    private const int AbsentStripes = 1024;

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Tag> _tags = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (string Token, long ExpiresAt)> _locks = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private readonly RcMetrics _metrics;
    private readonly long _sizeLimit;
    private readonly Lock _compactionLock = new();

    // A fill checks its lease and writes under its stripe's lock; a removal counts itself there and removes: so no
    // removal lands between a fill's check and its write (a lease is the counts when it was taken).
    private readonly Lock[] _fillLocks = [.. Enumerable.Range(0, LockStripes).Select(static _ => new Lock())];
    private readonly long[] _removals = new long[RemovalStripes];

    // The version a tag has while it holds none, per stripe of tags: it changes whenever a tag of the stripe that held
    // one is dropped to make room, so that a fill that read the tag before such a drop (or before the invalidation the
    // dropped version was) sees a change; fills of the other stripes' tags are not disturbed.
    private readonly string[] _absent = [.. Enumerable.Repeat("absent:0", AbsentStripes)];
    private long _clears;
    private long _size;
    private long _tagDrops;

    public MemoryStore(long sizeLimit, TimeProvider time, RcMetrics metrics)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(sizeLimit, 1);
        _sizeLimit = sizeLimit;
        _time = time;
        _metrics = metrics;
    }

    public string Kind => "memory";

    public bool ReturnsStoredArrays => true;

    public bool HasPendingTags => false;

    /// <summary>Gets the bytes of keys and values held now, expired entries not yet removed included.</summary>
    internal long Size => Interlocked.Read(ref _size);

    internal int Count => _entries.Count;

    /// <summary>Gets how many tags the store holds (for tests).</summary>
    internal int TagCount => _tags.Count;

    public ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return new(Read(key, Now()));
    }

    public byte[]? Get(string key) => Read(key, Now());

    public ValueTask<byte[]?[]> GetManyAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var now = Now();
        var values = new byte[]?[keys.Count];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = Read(keys[i], now);
        }

        return new(values);
    }

    public ValueTask<bool> SetAsync(string key, byte[] value, TimeSpan timeToLive, bool replaces, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return new(Write(key, value, timeToLive, onlyIfAbsent: false));
    }

    public void Set(string key, byte[] value, TimeSpan timeToLive, bool replaces) => Write(key, value, timeToLive, onlyIfAbsent: false);

    public ValueTask SetManyAsync(IReadOnlyList<StoreEntry> entries, bool replaces, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        foreach (var (key, value, timeToLive, lease) in entries)
        {
            _ = lease is { } held ? Fill(key, value, timeToLive, held) : Write(key, value, timeToLive, onlyIfAbsent: false);
        }

        return default;
    }

    /// <summary>
    /// A lease is the count of removals of the key's stripe and of clears when it is taken: any removal since, of this
    /// key or of one that shares its stripe, revokes it, and so does any clear, of any namespace (a false revocation
    /// costs a load its write, never a value). A load's write does not use it up, and it never lapses: the write's
    /// expectation (<see cref="FillLease.Finds"/>) refuses a second write over the first.
    /// </summary>
    public ValueTask<string?> LeaseAsync(string key, CancellationToken cancellationToken) => new(LeaseOf(key));

    public ValueTask<string?[]?> LeaseManyAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken) =>
        new([.. keys.Select(LeaseOf)]);

    public ValueTask<bool> FillAsync(string key, byte[] value, TimeSpan timeToLive, FillLease lease, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return new(Fill(key, value, timeToLive, lease));
    }

    public ValueTask<bool> AddAsync(string key, byte[] value, TimeSpan timeToLive, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return new(Write(key, value, timeToLive, onlyIfAbsent: true));
    }

    /// <remarks>The token is not checked: a removal takes no time here, and is never dropped.</remarks>
    public ValueTask<RcRemovalResult> DeleteAsync(string key, CancellationToken cancellationToken) => new(Delete(key));

    public RcRemovalResult Delete(string key) => new(Revoke(key, Now()) ? 1 : 0, 0);

    /// <remarks>The token is not checked: a removal takes no time here, and is never dropped.</remarks>
    public ValueTask<RcRemovalResult> DeleteManyAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken) =>
        new(new RcRemovalResult(RemoveAll(keys), 0));

    public ValueTask<bool> ExistsAsync(string key, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return new(_entries.TryGetValue(key, out var entry) && entry.IsLive(Now()));
    }

    public ValueTask<bool> ExpireAsync(string key, TimeSpan timeToLive, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return new(Expire(key, timeToLive));
    }

    public ValueTask<bool> RenewAsync(string key, ReadOnlyMemory<byte> header, TimeSpan timeToLive, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return new(Renew(key, header, timeToLive));
    }

    public bool Renew(string key, ReadOnlyMemory<byte> header, TimeSpan timeToLive) => Expire(key, timeToLive, header);

    public void RenewInBackground(string key, ReadOnlyMemory<byte> header, TimeSpan timeToLive) => Expire(key, timeToLive, header);

    public ValueTask<long> IncrementAsync(string key, long delta, TimeSpan timeToLive, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        while (true)
        {
            var now = Now();
            if (_entries.TryGetValue(key, out var current) && current.IsLive(now))
            {
                if (!Utf8Parser.TryParse(current.Value, out long number, out var consumed) || consumed != current.Value.Length)
                {
                    throw new InvalidOperationException("The entry does not hold an integer, so it cannot be incremented.");
                }

                var next = number + delta;
                if (((number ^ next) & (delta ^ next)) < 0)
                {
                    throw new OverflowException("Incrementing the entry would overflow a 64-bit integer.");
                }

                var replacement = new Entry(key, FormatInteger(next), current.ExpiresAt) { LastUse = now, WasRead = true };
                if (_entries.TryUpdate(key, replacement, current))
                {
                    Interlocked.Add(ref _size, replacement.Size - current.Size);
                    return new(next);
                }
            }
            else if (Replace(key, current, new Entry(key, FormatInteger(delta), Deadline(now, timeToLive)) { LastUse = now }))
            {
                return new(delta);
            }
        }
    }

    public ValueTask<RcRemovalResult> ClearAsync(string prefix, CancellationToken cancellationToken)
    {
        foreach (var (name, tag) in _tags)
        {
            if (name.StartsWith(prefix, StringComparison.Ordinal))
            {
                lock (tag)
                {
                    Drop(name, tag);
                }
            }
        }

        // Every lease taken before goes; a fill that checked its lease before that has written once its stripe's lock
        // is free, so the entries below include what it wrote.
        Interlocked.Increment(ref _clears);
        foreach (var fillLock in _fillLocks)
        {
            fillLock.Enter();
            fillLock.Exit();
        }

        long removed = 0;
        // The token is not checked: a clear stopped half way would leave entries the application removed.
        foreach (var pair in _entries)
        {
            if (pair.Key.StartsWith(prefix, StringComparison.Ordinal) && _entries.TryRemove(pair))
            {
                Interlocked.Add(ref _size, -pair.Value.Size);
                removed++;
            }
        }

        return new(new RcRemovalResult(removed, 0));
    }

    public ValueTask<string?[]> GetTagVersionsAsync(IReadOnlyList<TagKeys> tags, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var versions = new string?[tags.Count];
        for (var i = 0; i < versions.Length; i++)
        {
            if (_tags.TryGetValue(tags[i].Routing, out var tag))
            {
                lock (tag)
                {
                    versions[i] = tag.VersionAt(now);
                }
            }

            versions[i] ??= AbsentVersion(tags[i].Routing);
        }

        return new(versions);
    }

    public ValueTask<bool> TagAsync(TagKeys tags, IReadOnlyList<TagMember> members, string? expectedVersion, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var tag = EnterTag(tags.Routing);
        bool unchanged;
        long grown;
        try
        {
            var before = tag.Size;
            tag.Prune(now);
            foreach (var member in members)
            {
                tag.Add(member.Key, member.ExpiresAt);
            }

            unchanged = (tag.VersionAt(now) ?? AbsentVersion(tags.Routing)) == expectedVersion;
            grown = tag.Size - before;
        }
        finally
        {
            Monitor.Exit(tag);
        }

        // Members count against the size limit, as the entries they name do; the write that follows a registration
        // compacts. Compacting here would find a fill's own member without its entry, not written yet, and refuse it.
        Interlocked.Add(ref _size, grown);
        return new(unchanged);
    }

    public ValueTask<RcRemovalResult> InvalidateTagAsync(TagKeys tags, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var tag = EnterTag(tags.Routing);
        string[] members;
        try
        {
            tag.Version = Guid.NewGuid().ToString("N");
            tag.VersionExpiresAt = now + (long)TagKeys.VersionLifetime.TotalMilliseconds;
            members = [.. tag.Members.Keys];
            Interlocked.Add(ref _size, -tag.Size);
            tag.Clear();
        }
        finally
        {
            Monitor.Exit(tag);
        }

        var removed = RemoveAll(members);
        if (Interlocked.Read(ref _size) > _sizeLimit)
        {
            // The tag itself counts against the limit (an application may invalidate many tags that tag nothing).
            Compact(Now());
        }

        return new(new RcRemovalResult(removed, 0));
    }

    public bool IsTagPending(TagKeys tag) => false;

    public int RoundTrips(IReadOnlyList<string> keys) => 0;

    public ValueTask<LockTaken> TryLockAsync(string key, string token, TimeSpan lifetime, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var now = Now();
        var held = (token, now + lifetime.Ticks);
        while (true)
        {
            if (_locks.TryAdd(key, held))
            {
                return new(LockTaken.Taken);
            }

            if (_locks.TryGetValue(key, out var current) && current.ExpiresAt > now)
            {
                return new(LockTaken.Held);
            }

            if (_locks.TryUpdate(key, held, current))
            {
                return new(LockTaken.Taken);
            }
        }
    }

    public ValueTask<bool> RenewLockAsync(string key, string token, TimeSpan lifetime)
    {
        var now = Now();
        return new(_locks.TryGetValue(key, out var current) && current.Token == token && current.ExpiresAt > now
            && _locks.TryUpdate(key, (token, now + lifetime.Ticks), current));
    }

    public ValueTask UnlockAsync(string key, string token)
    {
        if (_locks.TryGetValue(key, out var current) && current.Token == token)
        {
            _locks.TryRemove(new KeyValuePair<string, (string, long)>(key, current));
        }

        return default;
    }

    public Task? WhenChanged(string key) => null;

    public ValueTask<IReadOnlyList<ShardStatus>> CheckHealthAsync(CancellationToken cancellationToken) =>
        new([new ShardStatus(Kind, true, TimeSpan.Zero, null)]);

    public void Dispose()
    {
        _tags.Clear();
        _entries.Clear();
        Interlocked.Exchange(ref _size, 0);
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return default;
    }

    private long Now() => _time.GetUtcNow().UtcTicks;

    /// <summary>When an entry written at <paramref name="now"/> expires; a lifetime past what the clock can count, never.</summary>
    private static long Deadline(long now, TimeSpan timeToLive) =>
        timeToLive.Ticks >= DateTimeOffset.MaxValue.UtcTicks - now ? DateTimeOffset.MaxValue.UtcTicks : now + Math.Max(timeToLive.Ticks, TimeSpan.TicksPerMillisecond);

    private byte[]? Read(string key, long now)
    {
        if (!_entries.TryGetValue(key, out var entry))
        {
            return null;
        }

        if (!entry.IsLive(now))
        {
            RemoveEntry(entry);
            return null;
        }

        entry.LastUse = now;
        entry.WasRead = true;
        return entry.Value;
    }

    private bool Write(string key, byte[] value, TimeSpan timeToLive, bool onlyIfAbsent)
    {
        var now = Now();
        var entry = new Entry(key, value.AsSpan().ToArray(), Deadline(now, timeToLive)) { LastUse = now };
        if (entry.Size > _sizeLimit / 10 * 9)
        {
            // Larger than what compaction leaves the store (90% of its limit), so it would evict everything, itself too:
            // like a write Redis refuses, nothing of the key remains, unless it was only to add a value that is absent.
            if (!onlyIfAbsent)
            {
                Revoke(key, now);
            }

            return false;
        }

        while (true)
        {
            _entries.TryGetValue(key, out var current);
            if (onlyIfAbsent && current is not null && current.IsLive(now))
            {
                return false;
            }

            if (Replace(key, current, entry))
            {
                break;
            }
        }

        if (Interlocked.Read(ref _size) > _sizeLimit)
        {
            Compact(now);
        }

        return true;
    }

    /// <summary>
    /// Writes what a load computed if its lease still holds (no removal since it was taken) and the key holds what the
    /// load's read found (<see cref="FillLease.Finds"/>), in one step under the key's stripe lock: a removal lands before
    /// the check or after the write. A write made meanwhile without the lock replaces the entry checked, and this one
    /// is then refused. A value too large for the store leaves nothing of the key, as <see cref="Write"/> does.
    /// </summary>
    private bool Fill(string key, byte[] value, TimeSpan timeToLive, FillLease lease)
    {
        var now = Now();
        var entry = new Entry(key, value.AsSpan().ToArray(), Deadline(now, timeToLive)) { LastUse = now };
        if (entry.Size > _sizeLimit / 10 * 9)
        {
            // Too large for the store, as Write refuses it: nothing of the key remains.
            Revoke(key, now);
            return false;
        }

        bool written;
        var hash = key.GetHashCode();
        lock (_fillLocks[hash & (LockStripes - 1)])
        {
            _entries.TryGetValue(key, out var current);
            var found = current is not null && current.IsLive(now) ? current.Value : null;
            written = lease.Token == LeaseOf(hash) && lease.Finds(found) && Replace(key, current, entry);
        }

        if (written && Interlocked.Read(ref _size) > _sizeLimit)
        {
            Compact(now);
        }

        return written;
    }

    private string LeaseOf(string key) => LeaseOf(key.GetHashCode());

    private string LeaseOf(int hash) =>
        string.Create(CultureInfo.InvariantCulture, $"{Volatile.Read(ref _clears)}:{Volatile.Read(ref _removals[hash & (RemovalStripes - 1)])}");

    /// <summary>
    /// Whether <paramref name="key"/>'s entry is stored; if it is not, the key's lease is revoked, under its stripe's
    /// lock, as a removal's is, so that a fill that registered the key under its tags and has not written yet cannot
    /// write an entry its tags no longer know.
    /// </summary>
    private bool IsStoredOrRevoked(string key)
    {
        var hash = key.GetHashCode();
        lock (_fillLocks[hash & (LockStripes - 1)])
        {
            if (_entries.ContainsKey(key))
            {
                return true;
            }

            _removals[hash & (RemovalStripes - 1)]++;
            return false;
        }
    }

    /// <summary>Removes a key as the application removes it: the leases of its stripe go first (<see cref="Fill"/>).</summary>
    private bool Revoke(string key, long now)
    {
        var hash = key.GetHashCode();
        lock (_fillLocks[hash & (LockStripes - 1)])
        {
            _removals[hash & (RemovalStripes - 1)]++;
            return Remove(key, now);
        }
    }

    private bool Replace(string key, Entry? current, Entry replacement)
    {
        if (current is null ? !_entries.TryAdd(key, replacement) : !_entries.TryUpdate(key, replacement, current))
        {
            return false;
        }

        Interlocked.Add(ref _size, replacement.Size - (current?.Size ?? 0));
        return true;
    }

    /// <summary>
    /// Sets an entry's deadline (on that entry object: a write that replaces it meanwhile keeps its own); with a
    /// <paramref name="header"/>, only if the entry still begins with it.
    /// </summary>
    private bool Expire(string key, TimeSpan timeToLive, ReadOnlyMemory<byte>? header = null)
    {
        var now = Now();
        if (!_entries.TryGetValue(key, out var entry) || !entry.IsLive(now) || (header is { } h && !entry.Value.AsSpan().StartsWith(h.Span)))
        {
            return false;
        }

        entry.ExpiresAt = Deadline(now, timeToLive);
        return true;
    }

    private long RemoveAll(IEnumerable<string> keys)
    {
        var now = Now();
        long removed = 0;
        foreach (var key in keys)
        {
            removed += Revoke(key, now) ? 1 : 0;
        }

        return removed;
    }

    private bool Remove(string key, long now) =>
        _entries.TryGetValue(key, out var entry) && RemoveEntry(entry) && entry.IsLive(now);

    private bool RemoveEntry(Entry entry)
    {
        if (!_entries.TryRemove(new KeyValuePair<string, Entry>(entry.Key, entry)))
        {
            return false;
        }

        Interlocked.Add(ref _size, -entry.Size);
        return true;
    }

    /// <summary>Drops expired entries, then the least recently read, until the store holds at most 90% of its limit.</summary>
    private void Compact(long now)
    {
        lock (_compactionLock)
        {
            if (Interlocked.Read(ref _size) <= _sizeLimit)
            {
                return;
            }

            var nowMs = new DateTimeOffset(now, TimeSpan.Zero).ToUnixTimeMilliseconds();
            foreach (var (name, tag) in _tags)
            {
                lock (tag)
                {
                    // Members whose entries are gone too (evicted or removed): they name nothing an invalidation could
                    // remove. Else members of evicted entries would hold the store's bytes until they expire, and each
                    // write would evict every entry to make room. A fill registers before it writes, so such a member
                    // may be a fill about to write: its lease is revoked first (IsStoredOrRevoked).
                    var before = tag.Size;
                    tag.Prune(nowMs, IsStoredOrRevoked);
                    Interlocked.Add(ref _size, tag.Size - before);

                    // A tag without members goes, though it holds a version: what fills read of it before is then
                    // refused (_absent), which costs them a miss, where keeping every tag ever invalidated would
                    // outgrow the limit.
                    if (tag.Members.Count == 0)
                    {
                        Drop(name, tag);
                    }
                }
            }

            var live = new List<Entry>(_entries.Count);
            foreach (var pair in _entries)
            {
                if (pair.Value.IsLive(now))
                {
                    live.Add(pair.Value);
                }
                else
                {
                    RemoveEntry(pair.Value);
                }
            }

            Eviction.ShrinkTo(live, _sizeLimit / 10 * 9, () => Interlocked.Read(ref _size), entry => RemoveEntry(entry));
        }
    }

    /// <summary>
    /// The tag of <paramref name="routing"/>, with its lock taken (the caller exits it). One dropped as empty or cleared
    /// after it was found is not written to: what is recorded goes into the tag that replaces it.
    /// </summary>
    private Tag EnterTag(string routing)
    {
        while (true)
        {
            if (!_tags.TryGetValue(routing, out var tag))
            {
                var made = new Tag(TagOverhead(routing));
                tag = _tags.GetOrAdd(routing, made);
                if (ReferenceEquals(tag, made))
                {
                    Interlocked.Add(ref _size, made.Overhead);
                }
            }

            Monitor.Enter(tag);
            if (!tag.IsDropped)
            {
                return tag;
            }

            Monitor.Exit(tag);
        }
    }

    /// <summary>Removes a tag, under its lock: one that a write found before it went records into the tag made after it instead.</summary>
    private void Drop(string name, Tag tag)
    {
        if (tag.IsDropped || !_tags.TryGetValue(name, out var current) || !ReferenceEquals(current, tag))
        {
            return;
        }

        if (tag.Version is not null)
        {
            // First: a write that registers once the tag is gone reads the new absent version, never the old one.
            Volatile.Write(ref _absent[AbsentStripe(name)], $"absent:{Interlocked.Increment(ref _tagDrops)}");
        }

        if (_tags.TryRemove(new KeyValuePair<string, Tag>(name, tag)))
        {
            tag.IsDropped = true;
            Interlocked.Add(ref _size, -tag.Size - tag.Overhead);
            tag.Clear();
        }
    }

    /// <summary>The stripe of <see cref="_absent"/> a tag's routing name falls in.</summary>
    internal static int AbsentStripe(string routing) => routing.GetHashCode() & (AbsentStripes - 1);

    private string AbsentVersion(string routing) => Volatile.Read(ref _absent[AbsentStripe(routing)]);

    /// <summary>What a tag takes in the store besides its members: the object, its name, its version and its table.</summary>
    private static long TagOverhead(string routing) => (EntryOverhead * 3) + (routing.Length * 2L);

    private static byte[] FormatInteger(long value)
    {
        Span<byte> buffer = stackalloc byte[20];
        Utf8Formatter.TryFormat(value, buffer, out var written);
        return buffer[..written].ToArray();
    }

    /// <summary>A tag's version and members, as Redis keeps them in a string and a sorted set (Unix milliseconds).</summary>
    private sealed class Tag(long overhead)
    {
        private static readonly long PruneMargin = (long)TagKeys.PruneMargin.TotalMilliseconds;

        public string? Version { get; set; }

        public long VersionExpiresAt { get; set; }

        public Dictionary<string, long> Members { get; } = new(StringComparer.Ordinal);

        /// <summary>Gets or sets whether it left the store's tags: a write that found it first records into the one that replaced it.</summary>
        public bool IsDropped { get; set; }

        /// <summary>Gets the bytes its members take, counted against the store's size limit.</summary>
        public long Size { get; private set; }

        /// <summary>Gets the bytes the tag itself takes, counted against the store's size limit while it is held.</summary>
        public long Overhead { get; } = overhead;

        public bool IsEmptyAt(long now) => Members.Count == 0 && VersionAt(now) is null;

        public string? VersionAt(long now) => now < VersionExpiresAt ? Version : null;

        public void Add(string key, long expiresAt)
        {
            if (Members.TryAdd(key, expiresAt))
            {
                Size += MemberSize(key);
            }
            else if (Members[key] < expiresAt)
            {
                // The longest registration counts: writes of one key may register in another order than they stored.
                Members[key] = expiresAt;
            }
        }

        public void Clear()
        {
            Members.Clear();
            Members.TrimExcess(); // a large tag's table goes with its members
            Size = 0;
        }

        public void Prune(long now, Func<string, bool>? isStored = null)
        {
            foreach (var (key, expiresAt) in Members)
            {
                // A member's expiry is counted before its entry is stored, so it can fall a little before the entry's:
                // it is kept a margin past it (as on Redis), unless its entry is gone.
                if (expiresAt + PruneMargin <= now || (isStored is not null && !isStored(key)))
                {
                    Members.Remove(key);
                    Size -= MemberSize(key);
                }
            }
        }

        private static long MemberSize(string key) => (EntryOverhead / 2) + (key.Length * 2L);
    }

    private sealed class Entry(string key, byte[] value, long expiresAt) : ICachedCopy
    {
        public string Key { get; } = key;

        public byte[] Value { get; } = value;

        public long Size { get; } = EntryOverhead + (key.Length * 2L) + value.Length;

        public long ExpiresAt
        {
            get => Volatile.Read(ref expiresAt);
            set => Volatile.Write(ref expiresAt, value);
        }

        public long LastUse { get; set; }

        public bool WasRead { get; set; }

        public bool IsLive(long now) => now < ExpiresAt;
    }
}
