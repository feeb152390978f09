using RcAspNet.Caching;

namespace RcAspNet.Batching;

/// <summary>A lookup whose miss is loaded by its own loader.</summary>
internal sealed class SingleEntry<T>(string key, string namespacedKey, RcEntryOptions? options, RcBatch batch, Func<CancellationToken, ValueTask<T>> loader)
    : BatchEntry<T>(key, namespacedKey, options, batch)
{
    public override object LoaderIdentity => this;

    protected override LoadRequest<T> Request(RcCache cache, object? shared, SemaphoreSlim loads) => new(
        Key,
        NamespacedKey,
        async token =>
        {
            await loads.WaitAsync(token).ConfigureAwait(false);
            try
            {
                return await Batch.AsLoaderAsync(loader, token).ConfigureAwait(false);
            }
            finally
            {
                loads.Release();
            }
        },
        Options,
        cache.Loader.Resolve(Options),
        value => Encode(cache, value),
        (bytes, out value) => Decode(cache, bytes, out value));

    public override async Task<IReadOnlyList<(BatchEntry Entry, byte[] Bytes)>> LoadAsync(RcCache cache, IReadOnlyList<BatchEntry> entries, CancellationToken cancellationToken)
    {
        try
        {
            var bytes = Resolve(cache, await Batch.AsLoaderAsync(loader, cancellationToken).ConfigureAwait(false));
            return bytes is null ? [] : [(this, bytes)];
        }
        catch (Exception ex)
        {
            Fail(ex);
            return [];
        }
    }
}
