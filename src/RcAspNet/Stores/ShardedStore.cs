using System.Runtime.CompilerServices;
using StackExchange.Redis;

namespace RcAspNet.Stores;

/// <summary>
/// rc's <c>CacheCluster</c>: independent Redis servers, each key on the shard its router picks. A multi-key call
/// groups its keys per shard and runs the shards in parallel (one MGET, one pipelined write, one DEL each), answering
/// in input order. A failing shard fails only its own keys, and keeps its removals until it answers again. A tag lives
/// on one shard, its members on any: the shard that invalidates it deletes them through this store.
/// </summary>
internal sealed class ShardedStore : IRcStore, IRedisBackedStore
{
    private readonly IRcRouter _router;
    private readonly IRcStore[] _shards;

    /// <param name="router">Routes each key to an index of <paramref name="shards"/>.</param>
    /// <param name="shards">One store per shard, in the order of <see cref="IRcRouter.Shards"/>.</param>
    public ShardedStore(IRcRouter router, IRcStore[] shards)
    {
        if (router.Shards.Count != shards.Length)
        {
            throw new ArgumentException("The router must route to exactly the configured shards.", nameof(router));
        }

        _router = router;
        _shards = shards;
        foreach (var shard in shards.OfType<Redis.RedisStore>())
        {
            shard.Owner = this;
        }
    }

    public string Kind => "sharded";

    public bool ReturnsStoredArrays => _shards.Any(static s => s.ReturnsStoredArrays);

    public bool HasPendingTags
    {
        get
        {
            foreach (var shard in _shards)
            {
                if (shard.HasPendingTags)
                {
                    return true;
                }
            }

            return false;
        }
    }

    internal IRcRouter Router => _router;

    public ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken) => ShardOf(key).GetAsync(key, cancellationToken);

    public byte[]? Get(string key) => ShardOf(key).Get(key);

    public async ValueTask<byte[]?[]> GetManyAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        var groups = Group(keys, static k => k);
        if (groups.Length == 1)
        {
            return await _shards[groups[0].Shard].GetManyAsync(keys, cancellationToken).ConfigureAwait(false);
        }

        var result = new byte[]?[keys.Count];
        var reads = new Task<byte[]?[]>[groups.Length];
        for (var g = 0; g < groups.Length; g++)
        {
            reads[g] = _shards[groups[g].Shard].GetManyAsync(groups[g].Items, cancellationToken).AsTask();
        }

        var replies = await Task.WhenAll(reads).ConfigureAwait(false);
        for (var g = 0; g < groups.Length; g++)
        {
            groups[g].PlaceReplies(replies[g], result);
        }

        return result;
    }

    public ValueTask<bool> SetAsync(string key, byte[] value, TimeSpan timeToLive, bool replaces, CancellationToken cancellationToken) =>
        ShardOf(key).SetAsync(key, value, timeToLive, replaces, cancellationToken);

    public void Set(string key, byte[] value, TimeSpan timeToLive, bool replaces) => ShardOf(key).Set(key, value, timeToLive, replaces);

    public async ValueTask SetManyAsync(IReadOnlyList<StoreEntry> entries, bool replaces, CancellationToken cancellationToken) =>
        await Task.WhenAll(Group(entries, static e => e.Key).Select(g => _shards[g.Shard].SetManyAsync(g.Items, replaces, cancellationToken).AsTask())).ConfigureAwait(false);

    /// <summary>On the key's shard, beside the key, where the key's removals reach it.</summary>
    public ValueTask<string?> LeaseAsync(string key, CancellationToken cancellationToken) => ShardOf(key).LeaseAsync(key, cancellationToken);

    public async ValueTask<string?[]?> LeaseManyAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        var groups = Group(keys, static k => k);
        var replies = await Task.WhenAll(groups.Select(g => _shards[g.Shard].LeaseManyAsync(g.Items, cancellationToken).AsTask())).ConfigureAwait(false);
        var result = new string?[keys.Count];
        for (var g = 0; g < groups.Length; g++)
        {
            if (replies[g] is { } leases)
            {
                groups[g].PlaceReplies(leases, result);
            }
        }

        return result;
    }

    public ValueTask<bool> FillAsync(string key, byte[] value, TimeSpan timeToLive, FillLease lease, CancellationToken cancellationToken) =>
        ShardOf(key).FillAsync(key, value, timeToLive, lease, cancellationToken);

    public ValueTask<bool> AddAsync(string key, byte[] value, TimeSpan timeToLive, CancellationToken cancellationToken) =>
        ShardOf(key).AddAsync(key, value, timeToLive, cancellationToken);

    public ValueTask<RcRemovalResult> DeleteAsync(string key, CancellationToken cancellationToken) => ShardOf(key).DeleteAsync(key, cancellationToken);

    public RcRemovalResult Delete(string key) => ShardOf(key).Delete(key);

    public async ValueTask<RcRemovalResult> DeleteManyAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken) =>
        Sum(await Task.WhenAll(Group(keys, static k => k).Select(g => _shards[g.Shard].DeleteManyAsync(g.Items, cancellationToken).AsTask())).ConfigureAwait(false));

    public ValueTask<bool> ExistsAsync(string key, CancellationToken cancellationToken) => ShardOf(key).ExistsAsync(key, cancellationToken);

    public ValueTask<bool> ExpireAsync(string key, TimeSpan timeToLive, CancellationToken cancellationToken) =>
        ShardOf(key).ExpireAsync(key, timeToLive, cancellationToken);

    public ValueTask<bool> RenewAsync(string key, ReadOnlyMemory<byte> header, TimeSpan timeToLive, CancellationToken cancellationToken) =>
        ShardOf(key).RenewAsync(key, header, timeToLive, cancellationToken);

    public bool Renew(string key, ReadOnlyMemory<byte> header, TimeSpan timeToLive) => ShardOf(key).Renew(key, header, timeToLive);

    public void RenewInBackground(string key, ReadOnlyMemory<byte> header, TimeSpan timeToLive) => ShardOf(key).RenewInBackground(key, header, timeToLive);

    public ValueTask<long> IncrementAsync(string key, long delta, TimeSpan timeToLive, CancellationToken cancellationToken) =>
        ShardOf(key).IncrementAsync(key, delta, timeToLive, cancellationToken);

    public async ValueTask<RcRemovalResult> ClearAsync(string prefix, CancellationToken cancellationToken) =>
        Sum(await Task.WhenAll(_shards.Select(s => s.ClearAsync(prefix, cancellationToken).AsTask())).ConfigureAwait(false));

    public async ValueTask<string?[]> GetTagVersionsAsync(IReadOnlyList<TagKeys> tags, CancellationToken cancellationToken)
    {
        var result = new string?[tags.Count];
        var groups = Group(tags, static t => t.Routing);
        var replies = await Task.WhenAll(groups.Select(g => _shards[g.Shard].GetTagVersionsAsync(g.Items, cancellationToken).AsTask())).ConfigureAwait(false);
        for (var g = 0; g < groups.Length; g++)
        {
            groups[g].PlaceReplies(replies[g], result);
        }

        return result;
    }

    public ValueTask<bool> TagAsync(TagKeys tag, IReadOnlyList<TagMember> members, string? expectedVersion, CancellationToken cancellationToken) =>
        ShardOf(tag.Routing).TagAsync(tag, members, expectedVersion, cancellationToken);

    public ValueTask<RcRemovalResult> InvalidateTagAsync(TagKeys tag, CancellationToken cancellationToken) =>
        ShardOf(tag.Routing).InvalidateTagAsync(tag, cancellationToken);

    public bool IsTagPending(TagKeys tag) => ShardOf(tag.Routing).IsTagPending(tag);

    public int RoundTrips(IReadOnlyList<string> keys) => keys.Select(RouteOf).Distinct().Count();

    public ValueTask<LockTaken> TryLockAsync(string key, string token, TimeSpan lifetime, CancellationToken cancellationToken) =>
        ShardOf(key).TryLockAsync(key, token, lifetime, cancellationToken);

    public ValueTask<bool> RenewLockAsync(string key, string token, TimeSpan lifetime) => ShardOf(key).RenewLockAsync(key, token, lifetime);

    public ValueTask UnlockAsync(string key, string token) => ShardOf(key).UnlockAsync(key, token);

    public Task? WhenChanged(string key) => ShardOf(key).WhenChanged(key);

    public async ValueTask<IReadOnlyList<ShardStatus>> CheckHealthAsync(CancellationToken cancellationToken) =>
        (await Task.WhenAll(_shards.Select(s => s.CheckHealthAsync(cancellationToken).AsTask())).ConfigureAwait(false)).SelectMany(static s => s).ToArray();

    public async ValueTask<IReadOnlyDictionary<string, IConnectionMultiplexer>> GetConnectionsAsync(CancellationToken cancellationToken) =>
        (await Task.WhenAll(_shards.OfType<IRedisBackedStore>().Select(s => s.GetConnectionsAsync(cancellationToken).AsTask())).ConfigureAwait(false))
            .SelectMany(static c => c)
            .ToDictionary(static c => c.Key, static c => c.Value, StringComparer.Ordinal);

    public void Dispose()
    {
        foreach (var shard in _shards)
        {
            shard.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var shard in _shards)
        {
            await shard.DisposeAsync().ConfigureAwait(false);
        }
    }

    private IRcStore ShardOf(string key) => _shards[RouteOf(key)];

    /// <summary>The router's shard for <paramref name="key"/>, which must be an index of one (a router of the application's own may be wrong).</summary>
    private int RouteOf(string key)
    {
        var shard = _router.GetShard(key);
        return (uint)shard < (uint)_shards.Length
            ? shard
            : throw new InvalidOperationException($"The router {_router.GetType().Name} returned {shard} for a key; IRcRouter.GetShard must return an index of its Shards, from 0 to {_shards.Length - 1}.");
    }

    private static RcRemovalResult Sum(RcRemovalResult[] results) =>
        new(results.Sum(static r => r.Removed), results.Sum(static r => r.Pending));

    /// <summary>
    /// The items of each shard that has any, in their order, with their indexes in <paramref name="items"/>: each item is
    /// routed once, and each group's arrays are made at their size.
    /// </summary>
    [SkipLocalsInit]
    private ShardGroup<T>[] Group<T>(IReadOnlyList<T> items, Func<T, string> keyOf)
    {
        Span<int> shardOf = items.Count <= 256 ? stackalloc int[items.Count] : new int[items.Count];
        Span<int> sizes = _shards.Length <= 64 ? stackalloc int[_shards.Length] : new int[_shards.Length];
        sizes.Clear();
        var count = 0;
        for (var i = 0; i < shardOf.Length; i++)
        {
            var shard = shardOf[i] = RouteOf(keyOf(items[i]));
            count += sizes[shard]++ == 0 ? 1 : 0;
        }

        var result = new ShardGroup<T>[count];
        var groupOf = new ShardGroup<T>?[_shards.Length];
        var next = 0;
        for (var shard = 0; shard < sizes.Length; shard++)
        {
            if (sizes[shard] > 0)
            {
                result[next++] = groupOf[shard] = new ShardGroup<T>(shard, sizes[shard]);
            }
        }

        for (var i = 0; i < shardOf.Length; i++)
        {
            groupOf[shardOf[i]]!.Add(items[i], i);
        }

        return result;
    }

    private sealed class ShardGroup<T>(int shard, int size)
    {
        private int _count;

        public int Shard { get; } = shard;

        public T[] Items { get; } = new T[size];

        public int[] Indexes { get; } = new int[size];

        public void Add(T item, int index)
        {
            Items[_count] = item;
            Indexes[_count++] = index;
        }

        /// <summary>Puts the shard's reply for each of its items at that item's index in the call's result.</summary>
        public void PlaceReplies<TReply>(TReply[] replies, TReply[] result)
        {
            for (var j = 0; j < Indexes.Length; j++)
            {
                result[Indexes[j]] = replies[j];
            }
        }
    }
}
