using RcAspNet.Caching;

namespace RcAspNet.Batching;

/// <summary>One queued lookup: its key, how to load it on a miss, and the promise to resolve.</summary>
internal abstract class BatchEntry(string key, string namespacedKey, RcEntryOptions? options)
{
    public string Key { get; } = key;

    public string NamespacedKey { get; } = namespacedKey;

    public RcEntryOptions? Options { get; } = options;

    /// <summary>Gets what misses are loaded together by: the entry itself for a single loader, the delegate for a load-many loader.</summary>
    public abstract object LoaderIdentity { get; }

    /// <summary>Resolves from stored bytes; false when they cannot be read as this entry's type.</summary>
    public abstract bool TryResolve(RcCache cache, ReadOnlySpan<byte> bytes);

    public abstract void Fail(Exception error);

    /// <summary>Marks the entry as taken by a flush, for callers that await it meanwhile.</summary>
    public abstract void TakenBy(Task flush);

    /// <summary>Loads <paramref name="entries"/> (misses that share this entry's loader), resolves them, and returns what to write back.</summary>
    public abstract Task<IReadOnlyList<(BatchEntry Entry, byte[] Bytes)>> LoadAsync(RcCache cache, IReadOnlyList<BatchEntry> entries, CancellationToken cancellationToken);
}

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

/// <summary>A lookup whose miss is loaded, with every other miss of the same loader, by one call of it.</summary>
internal sealed class ManyEntry<TArg, T>(
    string key,
    string namespacedKey,
    RcEntryOptions? options,
    Func<CancellationToken, Task> flush,
    TArg argument,
    Func<IReadOnlyList<TArg>, CancellationToken, ValueTask<IReadOnlyDictionary<TArg, T>>> loadMany)
    : BatchEntry<T>(key, namespacedKey, options, flush)
    where TArg : notnull
{
    public TArg Argument { get; } = argument;

    public override object LoaderIdentity => loadMany;

    public override async Task<IReadOnlyList<(BatchEntry Entry, byte[] Bytes)>> LoadAsync(RcCache cache, IReadOnlyList<BatchEntry> entries, CancellationToken cancellationToken)
    {
        var mine = entries.Cast<ManyEntry<TArg, T>>().ToArray();
        IReadOnlyDictionary<TArg, T> values;
        try
        {
            values = await loadMany(mine.Select(static e => e.Argument).Distinct().ToArray(), cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidOperationException("A load-many loader returned null instead of a dictionary.");
        }
        catch (Exception ex)
        {
            foreach (var entry in mine)
            {
                entry.Fail(ex);
            }

            return [];
        }

        var writes = new List<(BatchEntry, byte[])>(mine.Length);
        foreach (var entry in mine)
        {
            if (!values.TryGetValue(entry.Argument, out var value))
            {
                entry.ResolveMissing();
            }
            else if (entry.Resolve(cache, value) is { } bytes)
            {
                writes.Add((entry, bytes));
            }
        }

        return writes;
    }
}
