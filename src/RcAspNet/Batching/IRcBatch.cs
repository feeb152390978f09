namespace RcAspNet;

/// <summary>
/// rc's <c>batch_mode</c>, scoped to the request: lookups queued here resolve together, with one MGET per server for
/// all of them, their misses loaded (single loaders concurrently, up to <see cref="RcOptions.BatchConcurrency"/>;
/// load-many loaders once per flush) and written back in one pipelined write per server. <see cref="FlushAsync"/>, or
/// <see cref="RcPromise{T}.ResolveAsync"/> on any handle, resolves everything queued so far. Handles still queued when
/// the request ends fault.
/// </summary>
public interface IRcBatch
{
#pragma warning disable RS0026 // Two overloads with optional options: they differ in type parameters, so a call never binds to the wrong one.
    /// <summary>Queues a lookup of <paramref name="key"/>; on a miss, <paramref name="loader"/> provides the value.</summary>
    RcPromise<T> Load<T>(string key, Func<CancellationToken, ValueTask<T>> loader, RcEntryOptions? options = null);

    /// <summary>
    /// Queues a lookup of the result of <paramref name="name"/> for <paramref name="argument"/> (key <see cref="RcKey.For"/>).
    /// On a flush, all misses queued with the same <paramref name="loadMany"/> are loaded by one call of it, given their
    /// arguments; an argument it leaves out of its answer resolves to <see langword="default"/> and is not stored.
    /// </summary>
    RcPromise<T> Load<TArg, T>(string name, TArg argument, Func<IReadOnlyList<TArg>, CancellationToken, ValueTask<IReadOnlyDictionary<TArg, T>>> loadMany, RcEntryOptions? options = null)
        where TArg : notnull;
#pragma warning restore RS0026

    /// <summary>
    /// Resolves every queued lookup, and returns once the lookups another caller's flush took are resolved as well (not
    /// from a loader of that flush, which it waits for). Lookups queued while it runs (by loaders) go to the next flush;
    /// a loader that needs one awaits its handle's <see cref="RcPromise{T}.ResolveAsync"/>, which waits for that lookup
    /// alone. <paramref name="cancellationToken"/> bounds this caller's wait: the flush may have taken lookups that
    /// others wait for, and goes on while one of them does; when the last of them gives up, its loaders are cancelled
    /// (that caller returns once they have ended), as they are when the batch's scope ends, and a lookup it took that no
    /// one was awaiting fails as cancelled. A token cancelled before the call takes nothing.
    /// </summary>
    /// <param name="cancellationToken">Stops this caller's wait.</param>
    Task FlushAsync(CancellationToken cancellationToken = default);
}
