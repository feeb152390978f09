using System.Runtime.ExceptionServices;

namespace RcAspNet;

/// <summary>
/// The handle of a batched lookup (rc's promise): read <see cref="Value"/> after <see cref="IRcBatch.FlushAsync"/>, or
/// <see cref="ResolveAsync"/>, which flushes the batch when the lookup is still queued.
/// </summary>
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

    /// <summary>Returns the value, flushing the batch first when this lookup is still queued (and waiting for the flush that took it, when another caller's did).</summary>
    public async ValueTask<T> ResolveAsync(CancellationToken cancellationToken = default)
    {
        if (!IsResolved)
        {
            await (Flushing ?? _flush(cancellationToken)).WaitAsync(cancellationToken).ConfigureAwait(false);
            if (!IsResolved && Flushing is { } flushing)
            {
                // Another caller's flush took this lookup first: wait for that one.
                await flushing.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        return Value;
    }
}
