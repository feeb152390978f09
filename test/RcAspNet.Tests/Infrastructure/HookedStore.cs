using RcAspNet.Stores;

namespace RcAspNet.Tests.Infrastructure;

/// <summary>
/// A real store with hooks around its fills, to put another caller's call at an exact point of a fill: every call goes
/// to <paramref name="inner"/>, which does all the work.
/// </summary>
internal sealed class HookedStore(IRcStore inner) : IRcStore
{
    /// <summary>Gets or sets what runs just before a fill's write is sent, with its key.</summary>
    public Func<string, ValueTask>? BeforeFill { get; set; }

    /// <summary>Gets or sets what runs just after a fill's write returned, with its key.</summary>
    public Func<string, ValueTask>? AfterFill { get; set; }

    /// <summary>Gets or sets which tags' registrations fail, as a store that cannot reach the tag's server fails them.</summary>
    public Func<TagKeys, bool>? FailsToRegister { get; set; }

    public string Kind => inner.Kind;

    public bool ReturnsStoredArrays => inner.ReturnsStoredArrays;

    public bool HasPendingTags => inner.HasPendingTags;

    public async ValueTask<bool> FillAsync(string key, byte[] value, TimeSpan timeToLive, FillLease lease, CancellationToken cancellationToken)
    {
        if (BeforeFill is { } before)
        {
            await before(key);
        }

        var written = await inner.FillAsync(key, value, timeToLive, lease, cancellationToken);
        if (AfterFill is { } after)
        {
            await after(key);
        }

        return written;
    }

    /// <summary>Writes many entries; those under a lease are fills, with the hooks around the whole write.</summary>
    public async ValueTask SetManyAsync(IReadOnlyList<StoreEntry> entries, bool replaces, CancellationToken cancellationToken)
    {
        var fills = entries.Where(static e => e.Lease is not null).Select(static e => e.Key).ToArray();
        foreach (var key in fills)
        {
            if (BeforeFill is { } before)
            {
                await before(key);
            }
        }

        await inner.SetManyAsync(entries, replaces, cancellationToken);
        foreach (var key in fills)
        {
            if (AfterFill is { } after)
            {
                await after(key);
            }
        }
    }

    public ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken) => inner.GetAsync(key, cancellationToken);

    public byte[]? Get(string key) => inner.Get(key);

    public ValueTask<byte[]?[]> GetManyAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken) => inner.GetManyAsync(keys, cancellationToken);

    public ValueTask<bool> SetAsync(string key, byte[] value, TimeSpan timeToLive, bool replaces, CancellationToken cancellationToken) =>
        inner.SetAsync(key, value, timeToLive, replaces, cancellationToken);

    public void Set(string key, byte[] value, TimeSpan timeToLive, bool replaces) => inner.Set(key, value, timeToLive, replaces);

    public ValueTask<string?> LeaseAsync(string key, CancellationToken cancellationToken) => inner.LeaseAsync(key, cancellationToken);

    public ValueTask<string?[]?> LeaseManyAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken) => inner.LeaseManyAsync(keys, cancellationToken);

    public ValueTask<bool> AddAsync(string key, byte[] value, TimeSpan timeToLive, CancellationToken cancellationToken) =>
        inner.AddAsync(key, value, timeToLive, cancellationToken);

    public ValueTask<RcRemovalResult> DeleteAsync(string key, CancellationToken cancellationToken) => inner.DeleteAsync(key, cancellationToken);

    public RcRemovalResult Delete(string key) => inner.Delete(key);

    public ValueTask<RcRemovalResult> DeleteManyAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken) => inner.DeleteManyAsync(keys, cancellationToken);

    public ValueTask<bool> ExistsAsync(string key, CancellationToken cancellationToken) => inner.ExistsAsync(key, cancellationToken);

    public ValueTask<bool> ExpireAsync(string key, TimeSpan timeToLive, CancellationToken cancellationToken) => inner.ExpireAsync(key, timeToLive, cancellationToken);

    public ValueTask<bool> RenewAsync(string key, ReadOnlyMemory<byte> header, TimeSpan timeToLive, CancellationToken cancellationToken) =>
        inner.RenewAsync(key, header, timeToLive, cancellationToken);

    public bool Renew(string key, ReadOnlyMemory<byte> header, TimeSpan timeToLive) => inner.Renew(key, header, timeToLive);

    public void RenewInBackground(string key, ReadOnlyMemory<byte> header, TimeSpan timeToLive) => inner.RenewInBackground(key, header, timeToLive);

    public ValueTask<long> IncrementAsync(string key, long delta, TimeSpan timeToLive, CancellationToken cancellationToken) =>
        inner.IncrementAsync(key, delta, timeToLive, cancellationToken);

    public ValueTask<RcRemovalResult> ClearAsync(string prefix, CancellationToken cancellationToken) => inner.ClearAsync(prefix, cancellationToken);

    public ValueTask<string?[]> GetTagVersionsAsync(IReadOnlyList<TagKeys> tags, CancellationToken cancellationToken) => inner.GetTagVersionsAsync(tags, cancellationToken);

    public ValueTask<bool> TagAsync(TagKeys tag, IReadOnlyList<TagMember> members, string? expectedVersion, CancellationToken cancellationToken) =>
        FailsToRegister?.Invoke(tag) == true
            ? ValueTask.FromException<bool>(new RcCacheException("The tag's server could not be reached (HookedStore).") { Shard = "hooked" })
            : inner.TagAsync(tag, members, expectedVersion, cancellationToken);

    public ValueTask<RcRemovalResult> InvalidateTagAsync(TagKeys tag, CancellationToken cancellationToken) => inner.InvalidateTagAsync(tag, cancellationToken);

    public bool IsTagPending(TagKeys tag) => inner.IsTagPending(tag);

    public int RoundTrips(IReadOnlyList<string> keys) => inner.RoundTrips(keys);

    public ValueTask<LockTaken> TryLockAsync(string key, string token, TimeSpan lifetime, CancellationToken cancellationToken) =>
        inner.TryLockAsync(key, token, lifetime, cancellationToken);

    public ValueTask<bool> RenewLockAsync(string key, string token, TimeSpan lifetime) => inner.RenewLockAsync(key, token, lifetime);

    public ValueTask UnlockAsync(string key, string token) => inner.UnlockAsync(key, token);

    public Task? WhenChanged(string key) => inner.WhenChanged(key);

    public ValueTask<IReadOnlyList<ShardStatus>> CheckHealthAsync(CancellationToken cancellationToken) => inner.CheckHealthAsync(cancellationToken);

    public void Dispose() => inner.Dispose();

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
