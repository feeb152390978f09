using RcAspNet.Caching;

namespace RcAspNet.Batching;

/// <summary>
/// A queued lookup of a <typeparamref name="T"/>, and the handle that every lookup of its key in one flush shares: one
/// object per lookup, since a flush of a hundred made a hundred of each.
/// </summary>
internal abstract class BatchEntry<T>(string key, string namespacedKey, RcEntryOptions? options, Func<CancellationToken, Task> flush)
    : RcPromise<T>(flush), IBatchEntry
{
    public string Key { get; } = key;

    public string NamespacedKey { get; } = namespacedKey;

    public RcEntryOptions? Options { get; } = options;

    public long ChangeMark { get; set; }

    public byte[]? ReadEntry { get; set; }

    public bool ReadUnknown { get; set; }

    public string? Lease { get; set; }

    public abstract object LoaderIdentity { get; }

    public bool TryResolve(RcCache cache, ReadOnlySpan<byte> bytes)
    {
        if (!cache.TryDeserialize(bytes, out T? value))
        {
            return false;
        }

        SetResult(value!);
        return true;
    }

    public void Fail(Exception error) => SetError(error);

    public void TakenBy(Task flush) => Flushing = flush;

    public virtual object? Share(int members) => null;

    public abstract Task<IReadOnlyList<(IBatchEntry Entry, byte[] Bytes)>> LoadAsync(RcCache cache, IReadOnlyList<IBatchEntry> entries, CancellationToken cancellationToken);

    public async Task LoadThroughAsync(RcCache cache, ReadOnlyMemory<byte>? value, EntryHeader header, long loadsEndedAtRead, object? shared, SemaphoreSlim loads, CancellationToken cancellationToken)
    {
        try
        {
            var request = Request(cache, shared, loads);
            request.LoadsEndedAtRead = loadsEndedAtRead;
            (request.ReadEntry, request.ReadUnknown) = (ReadEntry, ReadUnknown);
            var loaded = await cache.Loader.AnswerAsync(request, value, header, cancellationToken).ConfigureAwait(false);
            SetResult(loaded.Value);
        }
        catch (Exception ex)
        {
            Fail(ex);
        }
    }

    /// <summary>This entry as a request to the cache's loader.</summary>
    protected abstract LoadRequest<T> Request(RcCache cache, object? shared, SemaphoreSlim loads);

    /// <summary>The bytes to store for a loaded value, or null for a bypass value.</summary>
    protected byte[]? Encode(RcCache cache, T value)
    {
        var bytes = cache.Serializer.Serialize(value);
        return cache.IsBypass(bytes, Options) ? null : bytes;
    }

    protected bool Decode(RcCache cache, ReadOnlyMemory<byte> bytes, out T? value) => cache.TryDeserialize(bytes.Span, out value);

    /// <summary>Resolves with a loaded value and returns its bytes to write back, or null for a bypass value.</summary>
    protected byte[]? Resolve(RcCache cache, T value)
    {
        SetResult(value);
        var bytes = cache.Serializer.Serialize(value);
        return cache.IsBypass(bytes, Options) ? null : bytes;
    }

    /// <summary>Resolves with <see langword="default"/>, storing nothing: the loader had no value.</summary>
    protected void ResolveMissing() => SetResult(default!);
}
