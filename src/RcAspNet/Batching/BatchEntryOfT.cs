using RcAspNet.Caching;

namespace RcAspNet.Batching;

/// <summary>A queued lookup of a <typeparamref name="T"/>, with the handle every lookup of its key in one flush shares.</summary>
internal abstract class BatchEntry<T> : BatchEntry
{
    protected BatchEntry(string key, string namespacedKey, RcEntryOptions? options, Func<CancellationToken, Task> flush)
        : base(key, namespacedKey, options) => Promise = new RcPromise<T>(flush);

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

    public override void TakenBy(Task flush) => Promise.Flushing = flush;

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
