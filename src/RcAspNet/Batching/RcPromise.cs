using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;

namespace RcAspNet;

/// <summary>The handle of a batched lookup: await it (which flushes the batch if needed), or read <see cref="Value"/> after a flush.</summary>
/// <typeparam name="T">The type of the value.</typeparam>
public sealed class RcPromise<T>
{
    private const int Pending = 0;
    private const int Resolving = 1;
    private const int Resolved = 2;

    private readonly Func<CancellationToken, Task> _flush;
    private int _state;
    private T? _value;
    private ExceptionDispatchInfo? _error;

    internal RcPromise(Func<CancellationToken, Task> flush) => _flush = flush;

    /// <summary>Gets whether the lookup has been resolved (with a value or an error).</summary>
    public bool IsResolved => Volatile.Read(ref _state) == Resolved;

    /// <summary>Gets the value; throws the loader's error if it failed, and <see cref="InvalidOperationException"/> before the batch is flushed.</summary>
    public T Value
    {
        get
        {
            if (!IsResolved)
            {
                throw new InvalidOperationException("This batched lookup is not resolved yet: await it, or await IRcBatch.FlushAsync() first.");
            }

            _error?.Throw();
            return _value!;
        }
    }

    /// <summary>Gets the flush this lookup is part of once one has taken it, to wait for.</summary>
    internal Task? Flushing { get; set; }

    /// <summary>Resolves the lookup, flushing the batch if it is still queued.</summary>
    public TaskAwaiter<T> GetAwaiter() => ResolveAsync().GetAwaiter();

    internal void SetResult(T value)
    {
        if (Interlocked.CompareExchange(ref _state, Resolving, Pending) == Pending)
        {
            _value = value;
            Volatile.Write(ref _state, Resolved);
        }
    }

    internal void SetError(Exception error)
    {
        if (Interlocked.CompareExchange(ref _state, Resolving, Pending) == Pending)
        {
            _error = ExceptionDispatchInfo.Capture(error);
            Volatile.Write(ref _state, Resolved);
        }
    }

    private async Task<T> ResolveAsync()
    {
        if (!IsResolved)
        {
            await (Flushing ?? _flush(CancellationToken.None)).ConfigureAwait(false);
            if (!IsResolved && Flushing is { } flushing)
            {
                // Another caller's flush took this lookup first: wait for that one.
                await flushing.ConfigureAwait(false);
            }
        }

        return Value;
    }
}
