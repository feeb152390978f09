using RcAspNet.Caching;

namespace RcAspNet.Batching;

/// <summary>A queued lookup of a <typeparamref name="T"/>, with the handle every lookup of its key in one flush shares.</summary>
internal abstract class BatchEntry<T> : BatchEntry
{
    protected BatchEntry(string key, string namespacedKey, RcEntryOptions? options, RcBatch batch)
        : base(key, namespacedKey, options)
    {
        Batch = batch;
        Promise = new RcPromise<T>(batch);
    }

    /// <summary>Gets the batch the lookup is queued in, which runs its loader (<see cref="RcBatch.AsLoaderAsync"/>).</summary>
    protected RcBatch Batch { get; }

    /// <summary>Gets the handle every lookup of this key in this flush shares.</summary>
    public RcPromise<T> Promise { get; }

    public override bool TryResolve(RcCache cache, ReadOnlySpan<byte> bytes)
    {
        if (!cache.TryDeserialize(bytes, out T? value))
        {
            return false;
        }

        Promise.SetResult(value!);
        return true;
    }

    public override void Fail(Exception error) => Promise.SetError(error);

    public override void TakenBy(FlushWork flush) => Promise.Flushing = flush;

    public override async Task LoadThroughAsync(RcCache cache, ReadOnlyMemory<byte>? value, EntryHeader header, long loadsEndedAtRead, object? shared, SemaphoreSlim loads, CancellationToken cancellationToken)
    {
        try
        {
            var request = Request(cache, shared, loads);
            request.LoadsEndedAtRead = loadsEndedAtRead;
            (request.ReadEntry, request.ReadUnknown) = (ReadEntry, ReadUnknown);
            var loaded = await cache.Loader.AnswerAsync(request, value, header, cancellationToken).ConfigureAwait(false);
            Promise.SetResult(loaded.Value);
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
        Promise.SetResult(value);
        var bytes = cache.Serializer.Serialize(value);
        return cache.IsBypass(bytes, Options) ? null : bytes;
    }

    /// <summary>Resolves with <see langword="default"/>, storing nothing: the loader had no value.</summary>
    protected void ResolveMissing() => Promise.SetResult(default!);
}
