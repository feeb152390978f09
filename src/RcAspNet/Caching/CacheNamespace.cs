using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using RcAspNet.Diagnostics;
using RcAspNet.Stores;

namespace RcAspNet.Caching;

/// <summary>
/// A namespace on a store, as rc's <c>Cache</c> object is, and the only way to the store: it checks keys, adds the
/// namespace, lays entries out (<see cref="EntryEnvelope"/>), renews sliding entries on read, refuses oversized values,
/// keeps tags (an entry that carries a tag whose invalidation is still kept for delivery is a miss, and is not written),
/// and counts hits and misses. <see cref="RcDistributedCache"/> and the typed cache stand on it; it knows
/// nothing of serialization or HTTP.
/// </summary>
internal sealed partial class CacheNamespace
{
    private readonly IRcStore _store;
    private readonly int _maximumKeyLength;
    private readonly int _maximumValueSize;
    private readonly ILogger _logger;
    private readonly RcMetrics _metrics;
    private readonly RenewalThrottle _renewals;

    // The namespaced keys made lately, by the caller's key's hash: a hot key's is made once, not on every call.
    private const int NamespacedSlots = 256;
    private readonly string?[] _namespaced = new string?[NamespacedSlots];

    // What this process changed while loads were under way: one log for every namespace of the app.
    private readonly ChangeLog _log;

    public CacheNamespace(string name, IRcStore store, string prefix, TimeSpan defaultExpiration, RcOptions options, TimeProvider time, RcMetrics metrics, ILogger logger, ChangeLog? changes = null)
    {
        Name = name;
        _log = changes ?? new ChangeLog();
        _store = store;
        Prefix = prefix;
        DefaultExpiration = defaultExpiration;
        Time = time;
        _maximumKeyLength = options.MaximumKeyLength;
        _maximumValueSize = options.MaximumValueSize;
        _logger = logger;
        _metrics = metrics;
        _renewals = new RenewalThrottle(time);
    }

    /// <summary>Gets the name of the cache this namespace belongs to (<c>default</c>, or a name under <c>Rc:Caches</c>), a telemetry tag.</summary>
    public string Name { get; }

    public string Prefix { get; }

    public TimeSpan DefaultExpiration { get; }

    public TimeProvider Time { get; }

    /// <summary>Gets the kind of the store beneath, a telemetry tag.</summary>
    public string StoreKind => _store.Kind;

    /// <summary>Checks a caller's key and returns it with the namespace.</summary>
    public string Key(string key, string paramName = "key")
    {
        ArgumentNullException.ThrowIfNull(key, paramName);
        if (key.Length == 0)
        {
            throw new ArgumentException("A cache key must not be empty.", paramName);
        }

        if (key.Length > _maximumKeyLength)
        {
            throw new ArgumentException($"A cache key must be at most {_maximumKeyLength} characters long (Rc:MaximumKeyLength); this one has {key.Length}.", paramName);
        }

        if (Prefix.Length == 0)
        {
            return HasLoneSurrogate(key) ? throw new ArgumentException(LoneSurrogate("cache key"), paramName)
                : IsReserved(key) ? throw new ArgumentException(ReservedKey, paramName)
                : key;
        }

        // A key namespaced lately passed the checks below then.
        ref var slot = ref _namespaced[key.GetHashCode() & (NamespacedSlots - 1)];
        if (Volatile.Read(ref slot) is { } made && made.Length == Prefix.Length + key.Length && made.AsSpan(Prefix.Length).SequenceEqual(key))
        {
            return made;
        }

        if (HasLoneSurrogate(key))
        {
            throw new ArgumentException(LoneSurrogate("cache key"), paramName);
        }

        if (IsReserved(key))
        {
            throw new ArgumentException(ReservedKey, paramName);
        }

        var namespaced = string.Concat(Prefix, key);
        Volatile.Write(ref slot, namespaced);
        return namespaced;
    }

    /// <summary>Returns whether a key would be accepted (the cache-aside paths skip the cache for one that would not).</summary>
    public bool IsValidKey(string? key) => !string.IsNullOrEmpty(key) && key.Length <= _maximumKeyLength && !HasLoneSurrogate(key) && !IsReserved(key);

    private const string ReservedKey = "A cache key must not contain '{rc-tag:', nor, without Rc:Namespace, start with 'rc-lock:' or 'rc-fill:': RcAspNet keeps tags, the fleet's locks and loads' fill leases under those names.";

    /// <summary>
    /// Whether a key could be one of the keys the library keeps beside the entries: a tag's (a clear takes any key that
    /// holds <c>{rc-tag:</c> for a tag's members), a fleet lock's or a fill lease's (in the empty namespace).
    /// </summary>
    private bool IsReserved(string key) =>
        key.Contains(Stores.TagKeys.RootStart, StringComparison.Ordinal)
        || (Prefix.Length == 0 && (key.StartsWith("rc-lock:", StringComparison.Ordinal) || key.StartsWith("rc-fill:", StringComparison.Ordinal)));

    /// <summary>Returns how many store round trips a multi-key call over these namespaced keys costs.</summary>
    public int RoundTrips(IReadOnlyList<string> namespacedKeys) => _store.RoundTrips(namespacedKeys);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<ReadOnlyMemory<byte>?> GetAsync(string key, CancellationToken cancellationToken)
    {
        var namespaced = Key(key);
        return OpenValue(namespaced, await ReadEntryAsync(namespaced, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>What <see cref="GetAsync"/> returns for an entry <see cref="ReadEntryAsync"/> read under <see cref="Key"/>: for a caller that awaits the store's read itself, a state machine fewer.</summary>
    public ReadOnlyMemory<byte>? OpenValue(string namespacedKey, byte[]? entry) => Counted(Unwrap(namespacedKey, entry));

    /// <summary>What <see cref="GetAsync"/> reads, as an array of the caller's own (<c>IDistributedCache.GetAsync</c>), in one state machine.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<byte[]?> GetOwnedAsync(string key, CancellationToken cancellationToken)
    {
        var namespaced = Key(key);
        return OpenValue(namespaced, await ReadEntryAsync(namespaced, cancellationToken).ConfigureAwait(false)) is { } value ? ToOwnedArray(value) : null;
    }

    /// <summary>
    /// Reads an entry for a load (cache-aside) by its namespaced key: its value even when it is past its tracked
    /// freshness (a fail-safe fallback), with what its header says of its freshness. Counts a hit only for a fresh
    /// value, and nothing when <paramref name="count"/> is false (a fleet waiter's polls).
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<(ReadOnlyMemory<byte>? Value, EntryHeader Header)> ReadAsync(string namespacedKey, bool count, CancellationToken cancellationToken) =>
        Open(namespacedKey, await ReadEntryAsync(namespacedKey, cancellationToken).ConfigureAwait(false), count);

    /// <summary>
    /// What <see cref="ReadAsync"/> does in two steps, for the hot path of a load, which awaits the store's read itself:
    /// a state machine fewer per call (pooled ones are not reused when many requests are in flight at once).
    /// </summary>
    public ValueTask<byte[]?> ReadEntryAsync(string namespacedKey, CancellationToken cancellationToken) => _store.GetAsync(namespacedKey, cancellationToken);

    /// <summary>Unwraps an entry <see cref="ReadEntryAsync"/> read, as <see cref="ReadAsync"/> does.</summary>
    public (ReadOnlyMemory<byte>? Value, EntryHeader Header) Open(string namespacedKey, byte[]? entry, bool count)
    {
        var value = Unwrap(namespacedKey, entry, out var header);
        if (count)
        {
            Count(value is null || header.IsStaleAt(NowMilliseconds) ? 0 : 1, 1);
        }

        return (value, header);
    }

    /// <summary>Gets the time now, in Unix milliseconds, as entry headers record it.</summary>
    public long NowMilliseconds => Time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <inheritdoc cref="IRcStore.TryLockAsync"/>
    public ValueTask<LockTaken> TryLockAsync(string namespacedKey, string token, TimeSpan lifetime, CancellationToken cancellationToken) =>
        _store.TryLockAsync(namespacedKey, token, lifetime, cancellationToken);

    /// <inheritdoc cref="IRcStore.RenewLockAsync"/>
    public ValueTask<bool> RenewLockAsync(string namespacedKey, string token, TimeSpan lifetime) => _store.RenewLockAsync(namespacedKey, token, lifetime);

    /// <inheritdoc cref="IRcStore.UnlockAsync"/>
    public ValueTask UnlockAsync(string namespacedKey, string token) => _store.UnlockAsync(namespacedKey, token);

    /// <inheritdoc cref="IRcStore.WhenChanged"/>
    public Task? WhenChanged(string namespacedKey) => _store.WhenChanged(namespacedKey);

    /// <summary>Counts an answer served from a fallback past its freshness, by why.</summary>
    public void CountStale(string reason) => _metrics.Stale(Name, _store.Kind, reason);

    /// <summary>Reads on the calling thread, never waiting on the thread pool.</summary>
    public ReadOnlyMemory<byte>? Get(string key)
    {
        var namespaced = Key(key);
        return Counted(Unwrap(namespaced, _store.Get(namespaced)));
    }

    /// <summary>Counts one read, a hit or a miss.</summary>
    private ReadOnlyMemory<byte>? Counted(ReadOnlyMemory<byte>? value)
    {
        Count(value is null ? 0 : 1, 1);
        return value;
    }

    /// <summary>The namespaced forms of <paramref name="keys"/>, each checked by <see cref="Key"/>.</summary>
    public string[] Keys(IReadOnlyList<string> keys)
    {
        var namespaced = new string[keys.Count];
        for (var i = 0; i < namespaced.Length; i++)
        {
            namespaced[i] = Key(keys[i], nameof(keys));
        }

        return namespaced;
    }

    /// <summary>
    /// Reads the entries of keys that already carry the namespace (checked by <see cref="Key"/>), as stored: the caller
    /// opens each with <see cref="Fresh"/> where it uses it, and counts them (<see cref="CountReads"/>), so that a
    /// multi-key read makes no array of values between the store's and its own.
    /// </summary>
    public ValueTask<byte[]?[]> ReadEntriesAsync(string[] namespaced, CancellationToken cancellationToken) => _store.GetManyAsync(namespaced, cancellationToken);

    /// <summary>The value of an entry <see cref="ReadEntriesAsync"/> read, if it is fresh, as <see cref="GetAsync"/> opens it (a sliding one is renewed).</summary>
    public ReadOnlyMemory<byte>? Fresh(string namespacedKey, byte[]? entry) => Unwrap(namespacedKey, entry);

    /// <summary>Counts <paramref name="reads"/> lookups, <paramref name="hits"/> of them hits.</summary>
    public void CountReads(int hits, int reads) => Count(hits, reads);

    /// <summary>
    /// Reads keys that already carry the namespace, for a batch whose loads have a policy: each value even past its
    /// tracked freshness (a fail-safe fallback), with its header. Counts a hit only for a fresh value.
    /// </summary>
    public async ValueTask<(ReadOnlyMemory<byte>? Value, EntryHeader Header, byte[]? Entry)[]> ReadManyNamespacedAsync(string[] namespaced, CancellationToken cancellationToken)
    {
        var entries = await _store.GetManyAsync(namespaced, cancellationToken).ConfigureAwait(false);
        var reads = new (ReadOnlyMemory<byte>? Value, EntryHeader Header, byte[]? Entry)[entries.Length];
        var now = NowMilliseconds;
        var hits = 0;
        for (var i = 0; i < reads.Length; i++)
        {
            var value = Unwrap(namespaced[i], entries[i], out var header);
            reads[i] = (value, header, entries[i]);
            hits += value is null || header.IsStaleAt(now) ? 0 : 1;
        }

        Count(hits, reads.Length);
        return reads;
    }

    /// <summary>The bytes of a read value as an array the caller owns: a fresh array from Redis as it is, anything shared or sliced as a copy.</summary>
    public byte[] ToOwnedArray(ReadOnlyMemory<byte> value) =>
        !_store.ReturnsStoredArrays && MemoryMarshal.TryGetArray(value, out var segment) && segment.Offset == 0 && segment.Count == segment.Array!.Length
            ? segment.Array
            : value.ToArray();

    /// <summary>Reads an entry only to renew it, if it is sliding, and waits for the renewal.</summary>
    public async ValueTask RefreshAsync(string key, CancellationToken cancellationToken)
    {
        var namespaced = Key(key);
        var entry = await _store.GetAsync(namespaced, cancellationToken).ConfigureAwait(false);
        if (Renewal(entry, out var header) is var ttl && ttl > TimeSpan.Zero)
        {
            await _store.RenewAsync(namespaced, entry.AsMemory(0, header.ValueOffset), ttl, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Reads an entry only to renew it, if it is sliding, on the calling thread.</summary>
    public void Refresh(string key)
    {
        var namespaced = Key(key);
        var entry = _store.Get(namespaced);
        if (Renewal(entry, out var header) is var ttl && ttl > TimeSpan.Zero)
        {
            _store.Renew(namespaced, entry.AsMemory(0, header.ValueOffset), ttl);
        }
    }

    /// <summary>
    /// Writes an entry; <paramref name="replaces"/> when the application replaces a value, rather than filling a miss.
    /// Returns the store's write itself, not a state machine around it (a write's await chain is its hot path's cost).
    /// </summary>
    /// <returns>Whether the store took the write.</returns>
    public ValueTask<bool> SetAsync(string key, byte[] value, EntryTiming timing, bool replaces, CancellationToken cancellationToken, FillLease? lease = null)
    {
        try
        {
            var namespaced = Key(key);
            if (replaces)
            {
                Changed(namespaced);
            }

            // Not stored when oversized, or when the caller gave up before it began (a request aborted after its
            // database write, say): the value it replaces must not outlive it, so it is removed instead, and a removal
            // runs to its end without its caller.
            return IsOversized(value) || (replaces && cancellationToken.IsCancellationRequested) ? DeleteInsteadNamespacedAsync([namespaced], cancellationToken)
                : lease is { } held ? _store.FillAsync(namespaced, Layout(value, timing, null), timing.StoreTimeToLive, held, cancellationToken)
                : _store.SetAsync(namespaced, Layout(value, timing, null), timing.StoreTimeToLive, replaces, cancellationToken);
        }
        catch (Exception ex)
        {
            // An invalid key, or a store that checks the caller's token first: through the task, and a cancellation
            // of the caller's token cancels it rather than faulting it, as an async method's would be.
            return ex is OperationCanceledException { CancellationToken.IsCancellationRequested: true } cancelled
                ? ValueTask.FromCanceled<bool>(cancelled.CancellationToken)
                : ValueTask.FromException<bool>(ex);
        }
    }

    /// <summary>The token of a lease that could not be taken: the load is answered, not written.</summary>
    public const string LeaseUnavailable = FillLease.Unavailable;

    /// <summary>
    /// What a load's write must find where its read found <paramref name="entry"/> (as stored; null for nothing), so that
    /// a value another process wrote meanwhile is not written over (<see cref="FillLease.Expect"/>): nothing, the same
    /// tracked entry (its header up to its freshness), or the same bytes (their SHA-1).
    /// </summary>
    public static byte[] Expectation(byte[]? entry)
    {
        if (entry is null)
        {
            return [];
        }

        if (EntryEnvelope.Read(entry, out var header) == EntryKind.Wrapped && header.TracksFreshness && entry.Length >= EntryEnvelope.TrackedHeaderSize)
        {
            // Its header up to its freshness: the magic, the windows, when it was written and until when it is fresh.
            return [(byte)'T', .. entry.AsSpan(0, EntryEnvelope.TrackedHeaderSize)];
        }

        return [(byte)'D', .. Encoding.ASCII.GetBytes(Convert.ToHexStringLower(SHA1.HashData(entry)))];
    }

    /// <summary>
    /// Takes the fill lease of a key whose load is about to run its factory, so that another process's removal of the
    /// key meanwhile is not undone by the load's write (<see cref="FillLease"/>); <paramref name="expect"/> is what the
    /// write must find (<see cref="Expectation"/>), null when the load's read is unknown (it failed), and the load is
    /// then answered, not written. Null when the store needs no lease.
    /// </summary>
    public async ValueTask<FillLease?> LeaseAsync(string namespacedKey, byte[]? expect, CancellationToken cancellationToken) =>
        await _store.LeaseAsync(namespacedKey, cancellationToken).ConfigureAwait(false) is { } token ? FillLease.For(token, expect) : null;

    /// <summary>The fill leases of many keys (<see cref="LeaseAsync"/>), one round trip per server; null when the store needs none.</summary>
    public ValueTask<string?[]?> LeaseManyAsync(IReadOnlyList<string> namespacedKeys, CancellationToken cancellationToken) =>
        _store.LeaseManyAsync(namespacedKeys, cancellationToken);

    /// <summary>
    /// Whether a load's value may be stored: not when its lease could not be taken, nor when it carries tags and has no
    /// lease (on Redis, a key with a } and no hash tag of its own can have none), since only a lease keeps an
    /// invalidation that comes as it writes from leaving it readable (<see cref="SetTaggedAsync"/>).
    /// </summary>
    private static bool MayFill(FillLease? lease, bool tagged) => lease is not { IsHeld: false } && !(tagged && lease is null);

    /// <summary>
    /// Writes what a load computed (with <paramref name="versions"/>, a value that carries <paramref name="tags"/>, as
    /// <see cref="SetTaggedAsync"/> writes it), unless this process changed the key since the load began (its mark,
    /// <paramref name="since"/>): a delete or a replacing write made meanwhile is never undone. A change made while it
    /// writes removes what it wrote. With a <paramref name="lease"/>, the write checks it: another process's removal
    /// since the lease was taken is not undone either, nor a value written since the load's read.
    /// </summary>
    public async ValueTask FillAsync(string key, byte[] value, EntryTiming timing, IReadOnlyList<string>? tags, TagVersions? versions, long since, FillLease? lease = null)
    {
        var namespaced = Key(key);
        if (ChangeMark(namespaced) != since || !MayFill(lease, tagged: versions is not null))
        {
            // Changed here, or it may not be stored (MayFill): the value is answered, not stored (a miss is safe).
            return;
        }

        try
        {
            if (versions is null)
            {
                await SetAsync(key, value, timing, replaces: false, CancellationToken.None, lease).ConfigureAwait(false);
            }
            else
            {
                await SetTaggedAsync(key, value, timing, tags!, versions, replaces: false, CancellationToken.None, lease).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is RcCacheException or OperationCanceledException)
        {
            // A write that failed (FailureMode=Throw) may still reach its server, after a removal made meanwhile.
            await UndoIfChangedAsync(namespaced, since).ConfigureAwait(false);
            throw;
        }

        await UndoIfChangedAsync(namespaced, since).ConfigureAwait(false);
    }

    /// <summary>
    /// How this process has changed <paramref name="namespacedKey"/> by a replacing write or a removal, and cleared this
    /// namespace: a mark that differs after each. A load takes it when it begins, holding a <see cref="Watch"/> of the key,
    /// so the mark counts that key alone; without one, it counts the key's stripe (a change to another key of the stripe
    /// then counts too, and a watched key's mark, negative, never equals an unwatched one's).
    /// </summary>
    public long ChangeMark(string namespacedKey) => _log.ChangeMark(namespacedKey);

    /// <summary>Gets how many keys and tags loads of this process watch (for tests).</summary>
    public int Watches => _log.Watches;

    /// <summary>
    /// A load of <paramref name="namespacedKey"/>, whose entry carries <paramref name="tags"/>, begins: until
    /// <see cref="Unwatch"/>, changes of the key and invalidations of those tags are counted per key and per tag.
    /// </summary>
    public void Watch(string namespacedKey, IReadOnlyList<string>? tags = null) => _log.Watch(namespacedKey, Prefix, tags);

    /// <summary>A load that <see cref="Watch"/>ed <paramref name="namespacedKey"/> and <paramref name="tags"/> ended.</summary>
    public void Unwatch(string namespacedKey, IReadOnlyList<string>? tags = null) => _log.Unwatch(namespacedKey, Prefix, tags);

    /// <summary>This process is about to replace or remove <paramref name="namespacedKey"/>: loads begun before are not written over it, nor joined.</summary>
    private string Changed(string namespacedKey)
    {
        _log.Changed(namespacedKey);
        return namespacedKey;
    }

    /// <summary>
    /// A removal of <paramref name="namespacedKey"/> by this process landed (its store call returned, whatever it answered).
    /// A load of the key that began while the removal was on its way took its mark after <see cref="Changed"/> counted it,
    /// yet its read may have reached the store first: the removal is counted again, so that a read that begins after it
    /// returned (and misses) never joins such a load, nor is its value written over the removal. (A replacing write is
    /// not counted again, which would cost every write a step: a read after it finds the new value, and a fill writes
    /// only where the key holds what its load read.)
    /// </summary>
    private void Landed(string namespacedKey) => _log.Landed(namespacedKey);

    private void Landed(IReadOnlyList<string> namespacedKeys)
    {
        for (var i = 0; i < namespacedKeys.Count; i++)
        {
            Landed(namespacedKeys[i]);
        }
    }

    /// <summary><see cref="Landed(string)"/> once <paramref name="change"/> completes; not a state machine when it already has.</summary>
    private ValueTask<T> LandedAsync<T>(ValueTask<T> change, string namespacedKey)
    {
        if (change.IsCompleted)
        {
            Landed(namespacedKey);
            return change;
        }

        return AwaitLandedAsync(change, namespacedKey);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<T> AwaitLandedAsync<T>(ValueTask<T> change, string namespacedKey)
    {
        try
        {
            return await change.ConfigureAwait(false);
        }
        finally
        {
            Landed(namespacedKey);
        }
    }

    /// <summary>
    /// A change came while a fill wrote: what it wrote may be older than the change, so it goes (a miss is safe). The
    /// delete is a removal like any other: counted again when it lands, so that a read that misses after it never joins
    /// a load whose read came before it.
    /// </summary>
    private async ValueTask UndoIfChangedAsync(string namespacedKey, long since)
    {
        if (ChangeMark(namespacedKey) != since)
        {
            await LandedAsync(_store.DeleteAsync(namespacedKey, CancellationToken.None), namespacedKey).ConfigureAwait(false);
        }
    }

    /// <summary>Writes on the calling thread, never waiting on the thread pool.</summary>
    public void Set(string key, byte[] value, EntryTiming timing)
    {
        var namespaced = Key(key);
        Changed(namespaced);
        if (IsOversized(value))
        {
            try
            {
                _store.Delete(namespaced);
            }
            finally
            {
                Landed(namespaced);
            }

            return;
        }

        _store.Set(namespaced, Layout(value, timing, null), timing.StoreTimeToLive, replaces: true);
    }

    /// <summary>
    /// Writes many entries in one pipelined write per server; oversized ones are not stored and their keys are deleted.
    /// Entries with tags are registered under them as <see cref="SetTaggedAsync"/> does, against <paramref name="versions"/>.
    /// </summary>
    public ValueTask SetManyAsync(IReadOnlyList<PendingWrite> items, TagVersions? versions, bool replaces, CancellationToken cancellationToken)
    {
        var namespaced = new PendingWrite[items.Count];
        for (var i = 0; i < namespaced.Length; i++)
        {
            namespaced[i] = items[i] with { Key = Key(items[i].Key, nameof(items)) };
        }

        return SetManyNamespacedAsync(namespaced, versions, replaces, cancellationToken);
    }

    /// <summary>Writes entries whose keys already carry the namespace.</summary>
    public async ValueTask SetManyNamespacedAsync(IReadOnlyList<PendingWrite> items, TagVersions? versions, bool replaces, CancellationToken cancellationToken)
    {
        var entries = new List<StoreEntry>(items.Count);
        List<string>? refused = null;
        List<TaggedKey>? tagged = null;

        // Fills are registered under their tags before they are written, under their leases (SetTaggedAsync); replacing
        // writes are registered after.
        List<TaggedKey>? registeredFirst = null;
        List<(string Key, long Since)>? fills = null;
        var abandoned = replaces && cancellationToken.IsCancellationRequested;
        foreach (var item in items)
        {
            var (namespaced, value, timing, tags, since, _, _) = item;
            var lease = item.FillLease;
            if (replaces)
            {
                Changed(namespaced);
            }

            if ((since is { } mark && ChangeMark(namespaced) != mark) || !MayFill(lease, tagged: !replaces && tags is { Count: > 0 }))
            {
                // This process removed or replaced the key while the value loaded, or it may not be stored (MayFill): as
                // FillAsync, not written.
                continue;
            }

            if (IsOversized(value) || abandoned || (replaces && IsAnyPending(tags)))
            {
                // Not stored (too big, its caller gave up before it began, or its tags are being invalidated); and the
                // value it replaces must not outlive it.
                (refused ??= []).Add(namespaced);
                continue;
            }

            if (IsAnyPending(tags))
            {
                continue;
            }

            entries.Add(new StoreEntry(namespaced, Layout(value, timing, tags), timing.StoreTimeToLive, lease));
            if (since is { } written)
            {
                (fills ??= []).Add((namespaced, written));
            }

            if (tags is { Count: > 0 })
            {
                var member = new TaggedKey(namespaced, ExpiresAt(timing), tags);
                if (!replaces)
                {
                    (registeredFirst ??= []).Add(member);
                }
                else
                {
                    (tagged ??= []).Add(member);
                }
            }
        }

        if (refused is not null)
        {
            // First, so that a write below that throws cannot leave the values these replaced.
            try
            {
                await _store.DeleteManyAsync(refused, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (replaces && cancellationToken.IsCancellationRequested && entries.Count > 0)
            {
                // The caller gave up: the entries below are not written either.
                await DeleteInsteadNamespacedAsync([.. entries.Select(static e => e.Key)], cancellationToken).ConfigureAwait(false);
                throw;
            }
            finally
            {
                Landed(refused);
            }
        }

        RcCacheException? registrationFailed = null;
        if (registeredFirst is not null)
        {
            HashSet<string> unwritten;
            try
            {
                unwritten = await RegisterAsync(registeredFirst, versions ?? throw new InvalidOperationException("Tagged writes need the tags' versions read before their values were computed.")).ConfigureAwait(false);
            }
            catch (RcCacheException ex)
            {
                // Not registered, so not written; the rest is, and then the failure is reported.
                unwritten = [.. registeredFirst.Select(static r => r.Key)];
                registrationFailed = ex;
            }

            if (unwritten.Count > 0)
            {
                entries.RemoveAll(e => unwritten.Contains(e.Key));
                fills?.RemoveAll(f => unwritten.Contains(f.Key));
            }
        }

        try
        {
            await WriteManyAsync(entries, tagged, versions, replaces, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (fills is not null && ex is RcCacheException or OperationCanceledException)
        {
            // Some servers may have taken their fills: those a change overtook go all the same (kept if they fail).
            try
            {
                await UndoOvertakenAsync(fills).ConfigureAwait(false);
            }
            catch (RcCacheException)
            {
            }

            throw;
        }

        if (fills is not null)
        {
            await UndoOvertakenAsync(fills).ConfigureAwait(false);
        }

        if (registrationFailed is not null)
        {
            ExceptionDispatchInfo.Throw(registrationFailed);
        }
    }

    private async ValueTask WriteManyAsync(List<StoreEntry> entries, List<TaggedKey>? tagged, TagVersions? versions, bool replaces, CancellationToken cancellationToken)
    {
        if (tagged is null)
        {
            await _store.SetManyAsync(entries, replaces, cancellationToken).ConfigureAwait(false);
            return;
        }

        try
        {
            await _store.SetManyAsync(entries, replaces, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RcCacheException or OperationCanceledException)
        {
            await DeleteUnregisteredAsync([.. tagged.Select(static t => t.Key)]).ConfigureAwait(false);
            throw;
        }

        await RegisterTagsAsync(tagged, versions ?? throw new InvalidOperationException("Tagged writes need the tags' versions read before their values were computed.")).ConfigureAwait(false);
    }

    /// <summary>A change came while these fills wrote (<see cref="UndoIfChangedAsync"/>): what they wrote goes.</summary>
    private async ValueTask UndoOvertakenAsync(List<(string Key, long Since)> fills)
    {
        if (fills.Where(f => ChangeMark(f.Key) != f.Since).Select(static f => f.Key).ToArray() is { Length: > 0 } overtaken)
        {
            await _store.DeleteManyAsync(overtaken, CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>Writes the entry only if the key holds nothing; returns whether it did.</summary>
    public async ValueTask<bool> AddAsync(string key, byte[] value, EntryTiming timing, IReadOnlyList<string>? tags, TagVersions? versions, CancellationToken cancellationToken)
    {
        var namespaced = Key(key);
        if (IsOversized(value) || IsAnyPending(tags))
        {
            return false;
        }

        Changed(namespaced);

        bool added;
        try
        {
            added = await _store.AddAsync(namespaced, Layout(value, timing, tags), timing.StoreTimeToLive, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when ((ex is RcCacheException or OperationCanceledException) && tags is { Count: > 0 })
        {
            await DeleteUnregisteredAsync([namespaced]).ConfigureAwait(false);
            throw;
        }

        if (added && tags is { Count: > 0 } && versions is not null)
        {
            await RegisterTagsAsync([new TaggedKey(namespaced, ExpiresAt(timing), tags)], versions).ConfigureAwait(false);
        }

        return added;
    }

    public ValueTask<RcRemovalResult> DeleteAsync(string key, CancellationToken cancellationToken)
    {
        var namespaced = Changed(Key(key));
        return LandedAsync(_store.DeleteAsync(namespaced, cancellationToken), namespaced);
    }

    /// <summary>
    /// What a replacing write of <paramref name="keys"/> does when it is not stored: too big, a bypass value, or given up
    /// by its caller before it was stored (a request aborted after its database write, say). The values it would have
    /// replaced must not outlive it, so they are removed, without the caller (a removal runs to its end); a write its
    /// caller gave up then ends cancelled.
    /// </summary>
    public ValueTask<bool> DeleteInsteadAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken) =>
        DeleteInsteadNamespacedAsync([.. keys.Select(k => Changed(Key(k, nameof(keys))))], cancellationToken);

    /// <summary><see cref="DeleteInsteadAsync(IReadOnlyList{string}, CancellationToken)"/> for one key.</summary>
    public ValueTask<bool> DeleteInsteadAsync(string key, CancellationToken cancellationToken) =>
        DeleteInsteadNamespacedAsync([Changed(Key(key))], cancellationToken);

    /// <summary><see cref="DeleteInsteadAsync(IReadOnlyList{string}, CancellationToken)"/> for keys that carry the namespace.</summary>
    private async ValueTask<bool> DeleteInsteadNamespacedAsync(IReadOnlyList<string> namespacedKeys, CancellationToken cancellationToken)
    {
        try
        {
            await (namespacedKeys.Count == 1 ? _store.DeleteAsync(namespacedKeys[0], cancellationToken) : _store.DeleteManyAsync(namespacedKeys, cancellationToken)).ConfigureAwait(false);
        }
        finally
        {
            Landed(namespacedKeys);
        }

        // A store that removes whatever the caller's token says (the memory store) still ends a cancelled write as one.
        cancellationToken.ThrowIfCancellationRequested();
        return false;
    }

    /// <summary>Deletes on the calling thread, never waiting on the thread pool.</summary>
    public RcRemovalResult Delete(string key)
    {
        var namespaced = Changed(Key(key));
        try
        {
            return _store.Delete(namespaced);
        }
        finally
        {
            Landed(namespaced);
        }
    }

    public async ValueTask<RcRemovalResult> DeleteManyAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        string[] namespaced = [.. keys.Select(k => Changed(Key(k, nameof(keys))))];
        try
        {
            return await _store.DeleteManyAsync(namespaced, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Landed(namespaced);
        }
    }

    public ValueTask<bool> ExistsAsync(string key, CancellationToken cancellationToken) => _store.ExistsAsync(Key(key), cancellationToken);

    /// <summary>Adds <paramref name="delta"/> to an integer entry; a new one starts at 0 and lives <paramref name="timeToLive"/>.</summary>
    public ValueTask<long> IncrementAsync(string key, long delta, TimeSpan timeToLive, CancellationToken cancellationToken) =>
        _store.IncrementAsync(Changed(Key(key)), delta, timeToLive, cancellationToken);

    /// <summary>
    /// Gives an existing entry a new lifetime; returns whether it existed. An entry with tags is registered under them
    /// only until the lifetime it was written with (then pruned), so it is registered again first, with the new one, as a
    /// write registers it (an invalidation since the tags' versions were read here removes it instead); else an
    /// invalidation after its old lifetime would miss it. So a touch reads the entry first.
    /// </summary>
    public async ValueTask<bool> TouchAsync(string key, TimeSpan timeToLive, CancellationToken cancellationToken)
    {
        var namespaced = Key(key);
        if (await _store.GetAsync(namespaced, cancellationToken).ConfigureAwait(false) is { } entry
            && EntryEnvelope.Read(entry, out var header) == EntryKind.Wrapped
            && EntryEnvelope.Tags(entry, header) is { Length: > 0 } tags)
        {
            // The tags' keys as read, not checked against today's settings: the entry was checked when it was written.
            var versions = await VersionsAsync(tags, KeysOf, cancellationToken).ConfigureAwait(false);
            await RegisterTagsAsync([new TaggedKey(namespaced, ExpiresAt(EntryTiming.For(timeToLive)), tags)], versions).ConfigureAwait(false);
        }

        return await _store.ExpireAsync(namespaced, timeToLive, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Deletes every entry of this namespace; a namespace without a prefix refuses, as it would empty every server.</summary>
    public ValueTask<RcRemovalResult> ClearAsync(CancellationToken cancellationToken)
    {
        if (Prefix.Length == 0)
        {
            throw new InvalidOperationException("This cache has no namespace: clearing it would delete every key of its servers. Give it a Namespace.");
        }

        _log.Cleared();
        return ClearedAsync(_store.ClearAsync(Prefix, cancellationToken));
    }

    /// <summary>A clear landed: counted again (<see cref="Landed(string)"/>).</summary>
    private async ValueTask<RcRemovalResult> ClearedAsync(ValueTask<RcRemovalResult> clear)
    {
        try
        {
            return await clear.ConfigureAwait(false);
        }
        finally
        {
            _log.Cleared();
        }
    }

    /// <summary>The Redis connections of the store beneath, by shard; an in-process store has none.</summary>
    public ValueTask<IReadOnlyDictionary<string, StackExchange.Redis.IConnectionMultiplexer>> GetRedisConnectionsAsync(CancellationToken cancellationToken) =>
        _store is IRedisBackedStore redis
            ? redis.GetConnectionsAsync(cancellationToken)
            : throw new NotSupportedException($"The {_store.Kind} store keeps no Redis connections; only Store=Redis and Store=Sharded do.");

    /// <summary>Gets how many bytes a value may have to be stored (<c>Rc:MaximumValueSize</c>).</summary>
    public int MaximumValueSize => _maximumValueSize;

    /// <summary>Where the store keeps <paramref name="tag"/> of this namespace.</summary>
    public TagKeys TagKeys(string tag)
    {
        CheckTag(tag);
        return KeysOf(tag);
    }

    /// <summary>Throws, naming the rule, for a tag that may not be a tag of this namespace.</summary>
    public void CheckTag(string? tag)
    {
        ArgumentException.ThrowIfNullOrEmpty(tag);
        if (TagRuleBroken(tag) is { } rule)
        {
            throw new ArgumentException(rule, nameof(tag));
        }
    }

    /// <summary><see cref="CheckTag"/> for each of <paramref name="tags"/>.</summary>
    public void CheckTags(IReadOnlyList<string>? tags)
    {
        for (var i = 0; tags is not null && i < tags.Count; i++)
        {
            CheckTag(tags[i]);
        }
    }

    /// <summary>Whether <paramref name="tag"/> may be a tag of this namespace (<see cref="TagKeys"/> throws for one that may not).</summary>
    public bool IsValidTag(string? tag) => !string.IsNullOrEmpty(tag) && TagRuleBroken(tag) is null;

    /// <summary>The rule a non-empty <paramref name="tag"/> breaks, or null when it may be a tag of this namespace.</summary>
    private string? TagRuleBroken(string tag)
    {
        if (tag.Length > _maximumKeyLength)
        {
            return $"A tag must be at most {_maximumKeyLength} characters long (Rc:MaximumKeyLength); this one has {tag.Length}.";
        }

        if (HasLoneSurrogate(tag))
        {
            return LoneSurrogate("tag");
        }

        // At most 3 UTF-8 bytes a UTF-16 char: a shorter tag needs no count.
        return tag.Length > ushort.MaxValue / 3 && Encoding.UTF8.GetByteCount(tag) is var bytes && bytes > ushort.MaxValue
            ? $"A tag must be at most {ushort.MaxValue} bytes long in UTF-8, as an entry records it; this one has {bytes}."
            : null;
    }

    /// <summary>Where the store keeps a tag an entry carries, without the checks of <see cref="TagKeys"/> (it was checked when written, under settings that may have changed).</summary>
    private TagKeys KeysOf(string tag)
    {
        var root = string.Concat(Prefix, Stores.TagKeys.RootStart, tag, "}");
        return new TagKeys(root + ":version", root + ":keys", root);
    }

    /// <summary>Reads the versions of <paramref name="tags"/>, before a value that will carry them is computed.</summary>
    public ValueTask<TagVersions> ReadTagVersionsAsync(IEnumerable<string> tags, CancellationToken cancellationToken) =>
        VersionsAsync(tags.Distinct(StringComparer.Ordinal).ToArray(), TagKeys, cancellationToken);

    /// <summary>Reads the versions of the tags <paramref name="names"/>, whose keys <paramref name="keysOf"/> gives.</summary>
    private async ValueTask<TagVersions> VersionsAsync(string[] names, Converter<string, TagKeys> keysOf, CancellationToken cancellationToken)
    {
        var keys = Array.ConvertAll(names, keysOf);
        return new TagVersions(names, keys, await _store.GetTagVersionsAsync(keys, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>
    /// Writes an entry that carries tags: the entry, then (on each tag's server) its membership and a second read of
    /// the tag's version. When a tag was invalidated since <paramref name="versions"/> were read, the value may predate
    /// the invalidation, so the entry is removed: once this returns, an invalidated entry is not readable.
    /// </summary>
    /// <remarks>
    /// A fill under a <paramref name="lease"/> is registered before it is written, and is written only if no tag was
    /// invalidated by then. An invalidation after the registration finds the key among the tag's members and removes it,
    /// which revokes the lease, so the write is refused: no read after an invalidation returned can find a value computed
    /// before it, even for a moment (written first, a fill was readable until the check after its write removed it).
    /// </remarks>
    public async ValueTask SetTaggedAsync(string key, byte[] value, EntryTiming timing, IReadOnlyList<string> tags, TagVersions versions, bool replaces, CancellationToken cancellationToken, FillLease? lease = null)
    {
        var namespaced = Key(key);
        if (replaces)
        {
            Changed(namespaced);
        }

        if (IsOversized(value) || (replaces && cancellationToken.IsCancellationRequested))
        {
            // Not stored; the value it replaces must not outlive it (SetAsync).
            await DeleteInsteadNamespacedAsync([namespaced], cancellationToken).ConfigureAwait(false);
            return;
        }

        if (IsAnyPending(tags))
        {
            // What was computed is returned, but not stored while an invalidation of its tags is on its way; a value the
            // application replaces must not outlive it either.
            if (replaces)
            {
                await LandedAsync(_store.DeleteAsync(namespaced, cancellationToken), namespaced).ConfigureAwait(false);
            }

            return;
        }

        if (!replaces)
        {
            // A fill, under its lease (FillAsync stores none without one), registered first (RegisterAsync), so that an
            // invalidation from now on finds the key and revokes the lease.
            if (lease is { } held && (await RegisterAsync([new TaggedKey(namespaced, ExpiresAt(timing), tags)], versions).ConfigureAwait(false)).Count == 0)
            {
                await _store.FillAsync(namespaced, Layout(value, timing, tags), timing.StoreTimeToLive, held, cancellationToken).ConfigureAwait(false);
            }

            return;
        }

        try
        {
            await _store.SetAsync(namespaced, Layout(value, timing, tags), timing.StoreTimeToLive, replaces, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RcCacheException or OperationCanceledException)
        {
            await DeleteUnregisteredAsync([namespaced]).ConfigureAwait(false);
            throw;
        }

        await RegisterTagsAsync([new TaggedKey(namespaced, ExpiresAt(timing), tags)], versions).ConfigureAwait(false);
    }

    /// <summary>Removes every entry of this namespace that carries <paramref name="tag"/>, on every server; returns how many there were, and what is kept for delivery.</summary>
    public ValueTask<RcRemovalResult> InvalidateTagAsync(string tag, CancellationToken cancellationToken)
    {
        var keys = TagKeys(tag);
        TagChanged(tag);
        return InvalidatedAsync(_store.InvalidateTagAsync(keys, cancellationToken), tag);
    }

    /// <summary>An invalidation of <paramref name="tag"/> landed: counted again (<see cref="Landed(string)"/>).</summary>
    private async ValueTask<RcRemovalResult> InvalidatedAsync(ValueTask<RcRemovalResult> invalidation, string tag)
    {
        try
        {
            return await invalidation.ConfigureAwait(false);
        }
        finally
        {
            TagChanged(tag);
        }
    }

    private void TagChanged(string tag) => _log.TagChanged(Prefix, tag);

    /// <summary>
    /// How this process has invalidated <paramref name="tags"/> while loads watched them (<see cref="Watch"/>): a negative
    /// mark that differs after each invalidation of one of them; 0 for no tags, and for tags not all watched. A load takes
    /// its mark while it watches its tags, so a mark of 0 never equals a tagged load's.
    /// </summary>
    public long TagMark(IReadOnlyList<string>? tags) => _log.TagMark(Prefix, tags);

    /// <summary>Registers written entries under their tags, then removes those whose tag was invalidated since <paramref name="versions"/>.</summary>
    /// <remarks>
    /// Takes no token: once an entry is written, its membership must be recorded (or the entry removed), whatever its
    /// caller does; an entry no tag knows would outlive the tag's invalidation.
    /// </remarks>
    private async ValueTask RegisterTagsAsync(IReadOnlyList<TaggedKey> written, TagVersions versions)
    {
        HashSet<string> stale;
        try
        {
            stale = await RegisterAsync(written, versions).ConfigureAwait(false);
        }
        catch (RcCacheException)
        {
            // A membership that may not have been recorded would let an invalidation miss the entry: remove it, then say so.
            await _store.DeleteManyAsync([.. written.Select(static w => w.Key)], CancellationToken.None).ConfigureAwait(false);
            throw;
        }

        if (stale.Count > 0)
        {
            await _store.DeleteManyAsync([.. stale], CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Records <paramref name="entries"/> as members of their tags and reads each tag's version there again; returns the
    /// keys of those with a tag invalidated since <paramref name="versions"/> were read.
    /// </summary>
    private async ValueTask<HashSet<string>> RegisterAsync(IReadOnlyList<TaggedKey> entries, TagVersions versions)
    {
        var cancellationToken = CancellationToken.None;
        var byTag = new Dictionary<string, List<TagMember>>(StringComparer.Ordinal);
        foreach (var entry in entries)
        {
            foreach (var tag in entry.Tags)
            {
                if (!byTag.TryGetValue(tag, out var members))
                {
                    byTag[tag] = members = [];
                }

                members.Add(new TagMember(entry.Key, entry.ExpiresAt));
            }
        }

        var stale = new HashSet<string>(StringComparer.Ordinal);
        var checks = await Task.WhenAll(byTag.Select(async pair =>
            (Members: pair.Value, Unchanged: await _store.TagAsync(versions.KeysOf(pair.Key), pair.Value, versions.VersionOf(pair.Key), cancellationToken).ConfigureAwait(false)))).ConfigureAwait(false);
        foreach (var (members, unchanged) in checks)
        {
            if (!unchanged)
            {
                stale.UnionWith(members.Select(static m => m.Key));
            }
        }

        return stale;
    }

    /// <summary>
    /// Whether <paramref name="text"/> holds half of a surrogate pair alone. Redis keys are UTF-8, where each such half
    /// becomes U+FFFD: two keys that differ only there would be one key in Redis but two here (to the GETs in flight, the
    /// near cache and the kept removals), so that a write of one would not be seen by a reader of the other.
    /// </summary>
    private static bool HasLoneSurrogate(ReadOnlySpan<char> text)
    {
        var at = text.IndexOfAnyInRange('\uD800', '\uDFFF');
        if (at < 0)
        {
            return false;
        }

        for (text = text[at..]; !text.IsEmpty;)
        {
            if (Rune.DecodeFromUtf16(text, out _, out var used) != OperationStatus.Done)
            {
                return true;
            }

            text = text[used..];
        }

        return false;
    }

    private static string LoneSurrogate(string what) =>
        $"A {what} must be well-formed UTF-16 text: this one holds half of a surrogate pair (U+D800 to U+DFFF) alone, which Redis would store as U+FFFD, the same as other keys.";

    /// <summary>
    /// A tagged write that threw (a server failed it under <c>FailureMode=Throw</c>, or its caller cancelled it) may still
    /// have written some entries: on the servers that did not fail, or on one whose answer never came. No tag knows them,
    /// so an invalidation would miss them: they are deleted (or the deletion kept), whatever the caller does meanwhile.
    /// </summary>
    private async ValueTask DeleteUnregisteredAsync(string[] keys)
    {
        try
        {
            await _store.DeleteManyAsync(keys, CancellationToken.None).ConfigureAwait(false);
        }
        catch (RcCacheException)
        {
            // Kept for its server (Throw reports it): the write's own failure is what the caller hears of.
        }
    }

    /// <summary>Whether an invalidation of one of <paramref name="tags"/> is kept for delivery, so that an entry carrying it must be neither served nor written.</summary>
    private bool IsAnyPending(IReadOnlyList<string>? tags)
    {
        if (tags is not { Count: > 0 } || !_store.HasPendingTags)
        {
            return false;
        }

        foreach (var tag in tags)
        {
            if (_store.IsTagPending(TagKeys(tag)))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>A value over <c>Rc:MaximumValueSize</c> is never stored; this logs it.</summary>
    private bool IsOversized(byte[] value)
    {
        if (value.Length <= _maximumValueSize)
        {
            return false;
        }

        LogValueTooLarge(_logger, value.Length, _maximumValueSize);
        return true;
    }

    /// <summary>Counts reads: a hit is an entry that could be read, whatever the typed layer then makes of it.</summary>
    private void Count(int hits, int reads) => _metrics.Lookup(Name, _store.Kind, hits, reads - hits);

    private long ExpiresAt(EntryTiming timing) => Time.GetUtcNow().ToUnixTimeMilliseconds() + (long)Math.Ceiling(timing.StoreTimeToLive.TotalMilliseconds);

    /// <summary>The time to live a refresh renews <paramref name="entry"/> to: its full window if it is sliding, else zero.</summary>
    private TimeSpan Renewal(byte[]? entry, out EntryHeader header)
    {
        header = default;
        return entry is not null && EntryEnvelope.Read(entry, out header) == EntryKind.Wrapped && header.Sliding > TimeSpan.Zero
            ? EntryTiming.Renewal(header.Sliding, header.Absolute, Time.GetUtcNow())
            : TimeSpan.Zero;
    }

    private byte[] Layout(byte[] value, EntryTiming timing, IReadOnlyList<string>? tags)
    {
        if (timing.Tracked)
        {
            var now = Time.GetUtcNow().ToUnixTimeMilliseconds();
            return EntryEnvelope.Wrap(value, timing.Sliding, timing.IsSliding ? timing.Absolute : null, tags, now, now + Math.Max(1, (long)Math.Ceiling(timing.TimeToLive.TotalMilliseconds)));
        }

        return timing.IsSliding || tags is { Count: > 0 } ? EntryEnvelope.Wrap(value, timing.IsSliding ? timing.Sliding : TimeSpan.Zero, timing.IsSliding ? timing.Absolute : null, tags)
            : EntryEnvelope.NeedsHeader(value) ? EntryEnvelope.Wrap(value, TimeSpan.Zero, null)
            : value;
    }

    /// <summary>The value of an entry as read (a fresh one only: an entry past its tracked freshness is a miss), renewing it in the background when it is sliding.</summary>
    private ReadOnlyMemory<byte>? Unwrap(string namespacedKey, byte[]? entry)
    {
        var value = Unwrap(namespacedKey, entry, out var header);
        return header.TracksFreshness && header.IsStaleAt(Time.GetUtcNow().ToUnixTimeMilliseconds()) ? null : value;
    }

    /// <summary>The value of an entry as read, fresh or kept past its freshness, with what its header says.</summary>
    private ReadOnlyMemory<byte>? Unwrap(string namespacedKey, byte[]? entry, out EntryHeader header)
    {
        header = default;
        if (entry is null)
        {
            return null;
        }

        switch (EntryEnvelope.Read(entry, out header))
        {
            case EntryKind.Plain:
                return entry;
            case EntryKind.Wrapped when header.HasTags && _store.HasPendingTags && EntryEnvelope.CarriesAny(entry, header, tag => _store.IsTagPending(KeysOf(tag))):
                // An invalidation of one of its tags has not reached the tag's server yet: it may be what was removed.
                return null;
            case EntryKind.Wrapped when header.Sliding > TimeSpan.Zero:
                var untilDeadline = header.Absolute is { } deadline ? deadline - Time.GetUtcNow() : TimeSpan.MaxValue;
                if (untilDeadline <= TimeSpan.Zero)
                {
                    return null;
                }

                if (_renewals.Renewal(namespacedKey, header.Sliding, untilDeadline) is var ttl && ttl > TimeSpan.Zero)
                {
                    // Only the entry read: a value written since keeps the lifetime its writer gave it.
                    _store.RenewInBackground(namespacedKey, entry.AsMemory(0, header.ValueOffset), ttl);
                }

                return entry.AsMemory(header.ValueOffset);
            case EntryKind.Wrapped:
                return entry.AsMemory(header.ValueOffset);
            default:
                LogCorruptEntry(_logger, _store.Kind);
                return null;
        }
    }
}
