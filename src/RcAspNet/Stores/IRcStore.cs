namespace RcAspNet.Stores;

/// <summary>
/// Where bytes live: keyed by the namespaced key, each entry with a time to live. A store knows nothing of
/// serialization, sliding expiration or HTTP; failures are handled inside it according to <see cref="RcFailureMode"/>.
/// A removal never degrades to silence: one that cannot reach its server is kept and reported pending, and the server
/// serves nothing of this node until it is delivered.
/// </summary>
internal interface IRcStore : IDisposable, IAsyncDisposable
{
    /// <summary>Gets the kind of store, a low-cardinality telemetry tag: memory, redis, sharded or null.</summary>
    string Kind { get; }

    /// <summary>Gets whether arrays returned by reads are the ones the store keeps (memory), to be copied before they reach user code.</summary>
    bool ReturnsStoredArrays { get; }

    ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken);

    /// <summary>Reads a key on the calling thread, never waiting on the thread pool (for the synchronous members of <c>IDistributedCache</c>).</summary>
    byte[]? Get(string key);

    /// <summary>Reads many keys, answering in input order with <see langword="null"/> for misses; no keys, no round trip.</summary>
    ValueTask<byte[]?[]> GetManyAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken);

    /// <summary>
    /// Writes an entry. <paramref name="replaces"/> says the application replaces a value (rather than filling a miss):
    /// a server that loses the write after acknowledging it would serve the value it replaced, so such a write is
    /// remembered as a removal to deliver again (<c>Rc:RemovalReplayWindow</c>).
    /// </summary>
    /// <returns>Whether the store took the write; false when it was skipped or failed, and degraded.</returns>
    ValueTask<bool> SetAsync(string key, byte[] value, TimeSpan timeToLive, bool replaces, CancellationToken cancellationToken);

    /// <summary>Writes on the calling thread, never waiting on the thread pool.</summary>
    void Set(string key, byte[] value, TimeSpan timeToLive, bool replaces);

    /// <summary>Writes many entries in one pipelined write per server.</summary>
    ValueTask SetManyAsync(IReadOnlyList<StoreEntry> entries, bool replaces, CancellationToken cancellationToken);

    /// <summary>
    /// Takes the fill lease of <paramref name="key"/> before a load's factory runs, or shares the one another load holds
    /// (<see cref="FillLease"/>): every removal of the key revokes it, and <see cref="FillAsync"/> writes only while it
    /// holds. Returns null when the store needs none (it stores nothing) or the key cannot have one;
    /// <see cref="FillLease.Unavailable"/> when it could not be taken.
    /// </summary>
    ValueTask<string?> LeaseAsync(string key, CancellationToken cancellationToken);

    /// <summary>Takes the fill leases of many keys (<see cref="LeaseAsync"/>), one round trip per server; null when the store needs none.</summary>
    ValueTask<string?[]?> LeaseManyAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken);

    /// <summary>
    /// Writes what a load computed, in one atomic step with the check of its lease: not when a removal revoked it, nor
    /// over a value written since the load's read (<see cref="FillLease.Expect"/>). Returns whether it wrote.
    /// </summary>
    ValueTask<bool> FillAsync(string key, byte[] value, TimeSpan timeToLive, FillLease lease, CancellationToken cancellationToken);

    /// <summary>Writes the entry only if the key holds nothing; returns whether it was written.</summary>
    ValueTask<bool> AddAsync(string key, byte[] value, TimeSpan timeToLive, CancellationToken cancellationToken);

    ValueTask<RcRemovalResult> DeleteAsync(string key, CancellationToken cancellationToken);

    /// <summary>Deletes on the calling thread, never waiting on the thread pool.</summary>
    RcRemovalResult Delete(string key);

    ValueTask<RcRemovalResult> DeleteManyAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken);

    ValueTask<bool> ExistsAsync(string key, CancellationToken cancellationToken);

    /// <summary>Sets a new time to live on an existing entry; returns whether the key existed.</summary>
    ValueTask<bool> ExpireAsync(string key, TimeSpan timeToLive, CancellationToken cancellationToken);

    /// <summary>
    /// Gives a sliding entry a new time to live if it still begins with <paramref name="header"/>, the header of the
    /// entry read; returns whether it did. A value written since the read keeps the lifetime its writer gave it.
    /// </summary>
    ValueTask<bool> RenewAsync(string key, ReadOnlyMemory<byte> header, TimeSpan timeToLive, CancellationToken cancellationToken);

    /// <summary>Renews as <see cref="RenewAsync"/> does, on the calling thread, never waiting on the thread pool.</summary>
    bool Renew(string key, ReadOnlyMemory<byte> header, TimeSpan timeToLive);

    /// <summary>Renews as <see cref="RenewAsync"/> does, without waiting for the answer (a sliding entry's renewal on read).</summary>
    void RenewInBackground(string key, ReadOnlyMemory<byte> header, TimeSpan timeToLive);

    /// <summary>Adds <paramref name="delta"/> to an integer entry; a new entry starts at 0 and lives <paramref name="timeToLive"/>.</summary>
    ValueTask<long> IncrementAsync(string key, long delta, TimeSpan timeToLive, CancellationToken cancellationToken);

    /// <summary>Deletes every key that starts with <paramref name="prefix"/> (SCAN and DEL in pages, never KEYS); returns how many.</summary>
    ValueTask<RcRemovalResult> ClearAsync(string prefix, CancellationToken cancellationToken);

    /// <summary>Reads the version of each tag: the token its last invalidation left, or null.</summary>
    ValueTask<string?[]> GetTagVersionsAsync(IReadOnlyList<TagKeys> tags, CancellationToken cancellationToken);

    /// <summary>
    /// Records <paramref name="members"/> under the tag (dropping members that have expired, and giving the tag the
    /// lifetime of its longest-lived member), then reads its version, in that order on the tag's server; returns
    /// whether the version is still <paramref name="expectedVersion"/>.
    /// </summary>
    ValueTask<bool> TagAsync(TagKeys tag, IReadOnlyList<TagMember> members, string? expectedVersion, CancellationToken cancellationToken);

    /// <summary>
    /// Gives the tag a new version (kept for <see cref="TagKeys.VersionLifetime"/>), then deletes every member it had, a
    /// page at a time, on their own servers. When the tag's server cannot be reached, the invalidation is kept and
    /// <see cref="IsTagPending"/> says so until it is delivered.
    /// </summary>
    ValueTask<RcRemovalResult> InvalidateTagAsync(TagKeys tag, CancellationToken cancellationToken);

    /// <summary>Gets whether an invalidation of any tag is kept for delivery (read on every tagged hit, so cheap).</summary>
    bool HasPendingTags { get; }

    /// <summary>Whether an invalidation of <paramref name="tag"/> is kept for delivery: an entry that carries it is a miss until then.</summary>
    bool IsTagPending(TagKeys tag);

    /// <summary>Returns how many servers a multi-key call over <paramref name="keys"/> talks to: the round trips it costs.</summary>
    int RoundTrips(IReadOnlyList<string> keys);

    /// <summary>
    /// Takes the fleet lock of <paramref name="key"/> (<c>SET NX PX</c> with <paramref name="token"/>, on the key's own
    /// server and slot) for <paramref name="lifetime"/>; <see cref="LockTaken.Unavailable"/> when the store cannot be asked.
    /// </summary>
    ValueTask<LockTaken> TryLockAsync(string key, string token, TimeSpan lifetime, CancellationToken cancellationToken);

    /// <summary>Gives the fleet lock of <paramref name="key"/> a new lifetime if <paramref name="token"/> still holds it; returns whether it did.</summary>
    ValueTask<bool> RenewLockAsync(string key, string token, TimeSpan lifetime);

    /// <summary>Releases the fleet lock of <paramref name="key"/> if <paramref name="token"/> still holds it (compare and delete).</summary>
    ValueTask UnlockAsync(string key, string token);

    /// <summary>
    /// A task that completes when the store hears that <paramref name="key"/> changed, whoever changed it (the near
    /// cache's invalidation link), or null when it cannot hear of changes and the caller must poll.
    /// </summary>
    Task? WhenChanged(string key);

    /// <summary>Pings every server; one status per shard.</summary>
    ValueTask<IReadOnlyList<ShardStatus>> CheckHealthAsync(CancellationToken cancellationToken);
}
