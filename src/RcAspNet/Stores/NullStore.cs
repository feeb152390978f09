namespace RcAspNet.Stores;

/// <summary>rc's <c>NullCache</c>: stores nothing, every read misses, no operation throws.</summary>
internal sealed class NullStore : IRcStore
{
    public static NullStore Instance { get; } = new();

    public string Kind => "null";

    public bool ReturnsStoredArrays => false;

    public ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken) => default;

    public byte[]? Get(string key) => null;

    public ValueTask<byte[]?[]> GetManyAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken) => new(new byte[]?[keys.Count]);

    public ValueTask<bool> SetAsync(string key, byte[] value, TimeSpan timeToLive, bool replaces, CancellationToken cancellationToken) => new(true);

    public void Set(string key, byte[] value, TimeSpan timeToLive, bool replaces)
    {
    }

    public ValueTask SetManyAsync(IReadOnlyList<StoreEntry> entries, bool replaces, CancellationToken cancellationToken) => default;

    public ValueTask<string?> LeaseAsync(string key, CancellationToken cancellationToken) => default;

    public ValueTask<string?[]?> LeaseManyAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken) => default;

    public ValueTask<bool> FillAsync(string key, byte[] value, TimeSpan timeToLive, FillLease lease, CancellationToken cancellationToken) => new(true);

    public ValueTask<bool> AddAsync(string key, byte[] value, TimeSpan timeToLive, CancellationToken cancellationToken) => new(true);

    public ValueTask<RcRemovalResult> DeleteAsync(string key, CancellationToken cancellationToken) => default;

    public RcRemovalResult Delete(string key) => default;

    public ValueTask<RcRemovalResult> DeleteManyAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken) => default;

    public ValueTask<bool> ExistsAsync(string key, CancellationToken cancellationToken) => default;

    public ValueTask<bool> ExpireAsync(string key, TimeSpan timeToLive, CancellationToken cancellationToken) => default;

    public ValueTask<bool> RenewAsync(string key, ReadOnlyMemory<byte> header, TimeSpan timeToLive, CancellationToken cancellationToken) => default;

    public bool Renew(string key, ReadOnlyMemory<byte> header, TimeSpan timeToLive) => false;

    public void RenewInBackground(string key, ReadOnlyMemory<byte> header, TimeSpan timeToLive)
    {
    }

    public ValueTask<long> IncrementAsync(string key, long delta, TimeSpan timeToLive, CancellationToken cancellationToken) => new(delta);

    public ValueTask<RcRemovalResult> ClearAsync(string prefix, CancellationToken cancellationToken) => default;

    public ValueTask<string?[]> GetTagVersionsAsync(IReadOnlyList<TagKeys> tags, CancellationToken cancellationToken) => new(new string?[tags.Count]);

    public ValueTask<bool> TagAsync(TagKeys tag, IReadOnlyList<TagMember> members, string? expectedVersion, CancellationToken cancellationToken) => new(true);

    public ValueTask<RcRemovalResult> InvalidateTagAsync(TagKeys tag, CancellationToken cancellationToken) => default;

    public bool HasPendingTags => false;

    public bool IsTagPending(TagKeys tag) => false;

    public int RoundTrips(IReadOnlyList<string> keys) => 0;

    public ValueTask<LockTaken> TryLockAsync(string key, string token, TimeSpan lifetime, CancellationToken cancellationToken) => new(LockTaken.Unavailable);

    public ValueTask<bool> RenewLockAsync(string key, string token, TimeSpan lifetime) => new(false);

    public ValueTask UnlockAsync(string key, string token) => default;

    public Task? WhenChanged(string key) => null;

    public ValueTask<IReadOnlyList<ShardStatus>> CheckHealthAsync(CancellationToken cancellationToken) => new([]);

    public void Dispose()
    {
    }

    public ValueTask DisposeAsync() => default;
}
