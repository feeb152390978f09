using RcAspNet.Caching;

namespace RcAspNet.Batching;

/// <summary>A lookup whose miss is loaded, with every other miss of the same loader, by one call of it.</summary>
internal sealed class ManyEntry<TArg, T>(
    string key,
    string namespacedKey,
    RcEntryOptions? options,
    RcBatch batch,
    TArg argument,
    Func<IReadOnlyList<TArg>, CancellationToken, ValueTask<IReadOnlyDictionary<TArg, T>>> loadMany)
    : BatchEntry<T>(key, namespacedKey, options, batch)
    where TArg : notnull
{
    public TArg Argument { get; } = argument;

    public override object LoaderIdentity => loadMany;

    public override object? Share(int members) => new GroupCall<TArg, T>(Load, members);

    protected override LoadRequest<T> Request(RcCache cache, object? shared, SemaphoreSlim loads)
    {
        var call = (GroupCall<TArg, T>)shared!;
        var member = new GroupCall<TArg, T>.Member();
        return new(
            Key,
            NamespacedKey,
            token => call.ValueAsync(member, Argument, token),
            Options,
            cache.Loader.Resolve(Options),
            value => call.IsMissing(Argument) ? null : Encode(cache, value),
            (bytes, out value) => Decode(cache, bytes, out value))
        {
            Settled = () => call.Settle(member),
        };
    }

    /// <summary>One call of the load-many loader, run as the batch's loader (<see cref="RcBatch.AsLoaderAsync"/>).</summary>
    private ValueTask<IReadOnlyDictionary<TArg, T>> Load(IReadOnlyList<TArg> arguments, CancellationToken cancellationToken) =>
        Batch.AsLoaderAsync(token => loadMany(arguments, token), cancellationToken);

    public override async Task<IReadOnlyList<(BatchEntry Entry, byte[] Bytes)>> LoadAsync(RcCache cache, IReadOnlyList<BatchEntry> entries, CancellationToken cancellationToken)
    {
        var mine = entries.Cast<ManyEntry<TArg, T>>().ToArray();
        IReadOnlyDictionary<TArg, T> values;
        try
        {
            values = await Load(mine.Select(static e => e.Argument).Distinct().ToArray(), cancellationToken).ConfigureAwait(false)
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
            else
            {
                try
                {
                    if (entry.Resolve(cache, value) is { } bytes)
                    {
                        writes.Add((entry, bytes));
                    }
                }
                catch (Exception ex)
                {
                    // The serializer (or a bypass check) failed on this value: it is answered, not stored, as a single
                    // loader's is; the group's other values and the flush's other lookups go on.
                    entry.Fail(ex);
                }
            }
        }

        return writes;
    }
}
