using System.Runtime.CompilerServices;

namespace RcAspNet;

/// <summary>The handle of a batched lookup: await it (which flushes the batch if needed), or read <see cref="Value"/> after a flush.</summary>
/// <typeparam name="T">The type of the value.</typeparam>
public sealed class RcPromise<T>
{
    private readonly Func<CancellationToken, Task> _flush;
    private readonly Task<T> _result;

    internal RcPromise(Task<T> result, Func<CancellationToken, Task> flush)
    {
        _result = result;
        _flush = flush;
    }

    /// <summary>Gets whether the lookup has been resolved (with a value or an error).</summary>
    public bool IsResolved => _result.IsCompleted;

    /// <summary>Gets the value; throws the loader's error if it failed, and <see cref="InvalidOperationException"/> before the batch is flushed.</summary>
    public T Value => IsResolved
        ? _result.GetAwaiter().GetResult()
        : throw new InvalidOperationException("This batched lookup is not resolved yet: await it, or await IRcBatch.FlushAsync() first.");

    /// <summary>Resolves the lookup, flushing the batch if it is still queued.</summary>
    public TaskAwaiter<T> GetAwaiter() => ResolveAsync().GetAwaiter();

    private async Task<T> ResolveAsync()
    {
        if (!_result.IsCompleted)
        {
            await _flush(CancellationToken.None).ConfigureAwait(false);
        }

        return await _result.ConfigureAwait(false);
    }
}
