namespace RcAspNet;

/// <summary>
/// rc's <c>Cache</c> for application code: typed values under a namespace, serialized by <see cref="IRcSerializer"/>.
/// Inject it, or a named cache with <c>[FromKeyedServices("name")] IRcCache</c>. Reads of missing or unreadable
/// entries return <see langword="default"/>; ask for <c>int?</c> rather than <c>int</c> to tell a miss from a zero.
/// </summary>
public interface IRcCache
{
    /// <summary>Gets the prefix of every key of this cache.</summary>
    string Namespace { get; }

    /// <summary>Returns the value under <paramref name="key"/>, or <see langword="default"/>.</summary>
    ValueTask<T?> GetAsync<T>(string key, CancellationToken cancellationToken = default);

    /// <summary>Returns the values under <paramref name="keys"/> in their order, <see langword="default"/> for misses (rc's <c>get_many</c>): one round trip per server.</summary>
    ValueTask<IReadOnlyList<T?>> GetManyAsync<T>(IReadOnlyList<string> keys, CancellationToken cancellationToken = default);

    /// <summary>Stores <paramref name="value"/> under <paramref name="key"/>.</summary>
    ValueTask SetAsync<T>(string key, T value, RcEntryOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Stores every pair, in one pipelined write per server.</summary>
    ValueTask SetManyAsync<T>(IReadOnlyCollection<KeyValuePair<string, T>> items, RcEntryOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Stores <paramref name="value"/> only if <paramref name="key"/> holds nothing; returns whether it did.</summary>
    ValueTask<bool> AddAsync<T>(string key, T value, RcEntryOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Deletes the entry; returns whether there was one (<see cref="RcRemovalResult.Removed"/> is 1), or that the removal
    /// could not reach its server and is kept (<see cref="RcRemovalResult.Pending"/> is 1): it is delivered as soon as
    /// the server answers, and this node reads nothing from that server until then. With
    /// <see cref="RcFailureMode.Throw"/>, a kept removal throws <see cref="RcCacheException"/> instead (it stays kept).
    /// </summary>
    ValueTask<RcRemovalResult> DeleteAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>Deletes the entries; returns how many there were, and how many removals are kept for servers that could not be reached (see <see cref="DeleteAsync"/>).</summary>
    ValueTask<RcRemovalResult> DeleteManyAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken = default);

    /// <summary>Returns whether <paramref name="key"/> holds an entry.</summary>
    ValueTask<bool> ExistsAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>Adds <paramref name="delta"/> to the integer under <paramref name="key"/>; a new counter starts at 0 and lives for the entry's expiration.</summary>
    /// <exception cref="InvalidOperationException">The entry holds something other than an integer (on every store, whatever <see cref="RcOptions.FailureMode"/>).</exception>
    /// <exception cref="OverflowException">The sum does not fit in a 64-bit integer.</exception>
    ValueTask<long> IncrementAsync(string key, long delta = 1, RcEntryOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Gives an existing entry a new lifetime; returns whether it existed. It reads the entry first: one with tags is
    /// registered under them again with its new lifetime, so that invalidating a tag still finds it (or, if one of its tags
    /// was invalidated meanwhile, it is removed).
    /// </summary>
    ValueTask<bool> TouchAsync(string key, TimeSpan expiration, CancellationToken cancellationToken = default);

    /// <summary>
    /// Deletes every entry of this namespace (SCAN and DEL in pages, never KEYS); returns how many, and whether a clear
    /// is kept for a server that could not be reached. A cache without a namespace refuses.
    /// </summary>
    ValueTask<RcRemovalResult> ClearAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Returns the value under <paramref name="key"/>; on a miss, runs <paramref name="factory"/>, stores its result
    /// (unless it is a bypass value) and returns it (rc's <c>@cache.cache()</c>). Concurrent misses of one key in this
    /// process run the factory once. Build a function's key with <see cref="RcKey.For"/>. A key the cache would
    /// refuse (empty, too long) skips the cache.
    /// </summary>
    ValueTask<T> GetOrSetAsync<T>(string key, Func<CancellationToken, ValueTask<T>> factory, RcEntryOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Deletes the result of <paramref name="name"/> called with <paramref name="args"/> (rc's <c>invalidate</c>): the
    /// entry under <see cref="RcKey.For"/>. Returns what <see cref="DeleteAsync"/> returns: removed, absent, or kept for
    /// delivery when its server cannot be reached.
    /// </summary>
    ValueTask<RcRemovalResult> InvalidateAsync(string name, params object?[] args);

    /// <summary>Deletes the result of <paramref name="name"/> called with <paramref name="args"/>; see <see cref="InvalidateAsync(string, object?[])"/>.</summary>
    ValueTask<RcRemovalResult> InvalidateAsync(string name, object?[] args, CancellationToken cancellationToken);

    /// <summary>
    /// Deletes every entry of this cache that carries <paramref name="tag"/> (<see cref="RcEntryOptions.Tags"/>,
    /// <c>[RcCached(Tags = ...)]</c>), on every server, whichever node wrote it; returns how many there were. A tagged
    /// write that races with it never leaves its entry readable once both have returned. When the tag's server cannot be
    /// reached, the invalidation is kept (<see cref="RcRemovalResult.Pending"/>): until it is delivered, every entry that
    /// carries the tag is a miss on this node, on every server, and is not written. Members are deleted a page at a time,
    /// so a tag of any size never stalls its servers.
    /// </summary>
    ValueTask<RcRemovalResult> InvalidateTagAsync(string tag, CancellationToken cancellationToken = default);
}
