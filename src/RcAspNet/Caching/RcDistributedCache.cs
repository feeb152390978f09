using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Caching.Distributed;

namespace RcAspNet.Caching;

/// <summary>
/// <see cref="IDistributedCache"/> and <see cref="IBufferDistributedCache"/> over any store, with the semantics of
/// the Microsoft implementations (absolute, relative and sliding expiration, sliding capped by absolute) at
/// millisecond precision, and the layout of rc (see <see cref="EntryEnvelope"/>). A read of a sliding entry costs one
/// round trip: its renewal is sent without waiting. The synchronous members run on the caller's thread with the
/// store's own synchronous operations; they never wait on the thread pool.
/// </summary>
internal sealed class RcDistributedCache(CacheNamespace keyspace) : IBufferDistributedCache
{
    internal CacheNamespace Namespace => keyspace;

    public byte[]? Get(string key) => keyspace.Get(key) is { } value ? Detach(value) : null;

    public async Task<byte[]?> GetAsync(string key, CancellationToken token = default)
    {
        var namespaced = keyspace.Key(key);
        var entry = await keyspace.Store.GetAsync(namespaced, token).ConfigureAwait(false);
        return keyspace.Unwrap(namespaced, entry) is { } value ? Detach(value) : null;
    }

    public bool TryGet(string key, IBufferWriter<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        if (keyspace.Get(key) is not { } value)
        {
            return false;
        }

        destination.Write(value.Span);
        return true;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<bool> TryGetAsync(string key, IBufferWriter<byte> destination, CancellationToken token = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        var namespaced = keyspace.Key(key);
        var entry = await keyspace.Store.GetAsync(namespaced, token).ConfigureAwait(false);
        if (keyspace.Unwrap(namespaced, entry) is not { } value)
        {
            return false;
        }

        destination.Write(value.Span);
        return true;
    }

    public void Set(string key, byte[] value, DistributedCacheEntryOptions options)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        ArgumentNullException.ThrowIfNull(options);
        keyspace.Set(key, value, Timing(options));
    }

    public Task SetAsync(string key, byte[] value, DistributedCacheEntryOptions options, CancellationToken token = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        ArgumentNullException.ThrowIfNull(options);
        return keyspace.SetAsync(key, value, Timing(options), token).AsTask();
    }

    public void Set(string key, ReadOnlySequence<byte> value, DistributedCacheEntryOptions options)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(options);
        keyspace.Set(key, value.ToArray(), Timing(options));
    }

    public ValueTask SetAsync(string key, ReadOnlySequence<byte> value, DistributedCacheEntryOptions options, CancellationToken token = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(options);
        return keyspace.SetAsync(key, value.ToArray(), Timing(options), token);
    }

    public void Refresh(string key) => keyspace.Refresh(key);

    public Task RefreshAsync(string key, CancellationToken token = default) => keyspace.RefreshAsync(key, token).AsTask();

    public void Remove(string key) => keyspace.Delete(key);

    public Task RemoveAsync(string key, CancellationToken token = default) => keyspace.Store.DeleteAsync(keyspace.Key(key), token).AsTask();

    private EntryTiming Timing(DistributedCacheEntryOptions options) =>
        EntryTiming.From(options, keyspace.Time.GetUtcNow(), keyspace.DefaultExpiration);

    /// <summary>The caller owns what it gets: a fresh array from Redis as it is, anything shared or sliced as a copy.</summary>
    private byte[] Detach(ReadOnlyMemory<byte> value) =>
        !keyspace.Store.SharesBuffers && MemoryMarshal.TryGetArray(value, out var segment) && segment.Offset == 0 && segment.Count == segment.Array!.Length
            ? segment.Array
            : value.ToArray();
}
