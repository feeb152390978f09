using System.Runtime.ExceptionServices;
using RcAspNet.Batching;

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

    private readonly RcBatch _batch;
    private int _state;
    private T? _value;
    private ExceptionDispatchInfo? _error;
    private TaskCompletionSource? _resolved; // made only for a caller that waits for a lookup a flush has taken

    internal RcPromise(RcBatch batch) => _batch = batch;

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
    internal FlushWork? Flushing { get; set; }

    internal void SetResult(T value)
    {
        if (Interlocked.CompareExchange(ref _state, Resolving, Pending) == Pending)
        {
            _value = value;
            Resolve();
        }
    }

    internal void SetError(Exception error)
    {
        if (Interlocked.CompareExchange(ref _state, Resolving, Pending) == Pending)
        {
            _error = ExceptionDispatchInfo.Capture(error);
            Resolve();
        }
    }

    /// <summary>
    /// Returns the value, flushing the batch first when this lookup is still queued; when a flush has taken it, waits
    /// for this lookup alone, not for that flush: a loader of the flush may wait for another lookup of it.
    /// </summary>
    public async ValueTask<T> ResolveAsync(CancellationToken cancellationToken = default)
    {
        if (!IsResolved)
        {
            if (Flushing is null)
            {
                await _batch.FlushForHandleAsync(cancellationToken).ConfigureAwait(false);
            }

            if (!IsResolved)
            {
                // Taken by a flush still running (another caller's, or the one above if it was): wait for this lookup,
                // as one of that flush's waiters (the flush goes on while one waits).
                await (Flushing is { } flushing
                    ? flushing.WaitAsync(WhenResolved(), joined: false, _batch.IsLoading, cancellationToken)
                    : WhenResolved().WaitAsync(cancellationToken)).ConfigureAwait(false);
            }
        }

        return Value;
    }

    private void Resolve()
    {
        // Interlocked (a full fence) against WhenResolved's: either it sees the state, or this sees its waiters.
        Interlocked.Exchange(ref _state, Resolved);
        Volatile.Read(ref _resolved)?.TrySetResult();
    }

    private Task WhenResolved()
    {
        var resolved = Volatile.Read(ref _resolved);
        if (resolved is null)
        {
            var made = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            resolved = Interlocked.CompareExchange(ref _resolved, made, null) ?? made;
        }

        if (IsResolved)
        {
            resolved.TrySetResult();
        }

        return resolved.Task;
    }
}
