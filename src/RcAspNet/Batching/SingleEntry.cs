using RcAspNet.Caching;

namespace RcAspNet.Batching;

/// <summary>A lookup whose miss is loaded by its own loader.</summary>
internal sealed class SingleEntry<T>(string key, string namespacedKey, RcEntryOptions? options, Func<CancellationToken, Task> flush, Func<CancellationToken, ValueTask<T>> loader)
    : BatchEntry<T>(key, namespacedKey, options, flush)
{
    public override object LoaderIdentity => this;

    public override async Task<IReadOnlyList<(BatchEntry Entry, byte[] Bytes)>> LoadAsync(RcCache cache, IReadOnlyList<BatchEntry> entries, CancellationToken cancellationToken)
    {
        try
        {
            var bytes = Resolve(cache, await loader(cancellationToken).ConfigureAwait(false));
            return bytes is null ? [] : [(this, bytes)];
        }
        catch (Exception ex)
        {
            Fail(ex);
            return [];
        }
    }
}
