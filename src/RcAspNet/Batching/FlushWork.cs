namespace RcAspNet.Batching;

/// <summary>
/// One flush's resolution, shared by whoever waits for a lookup it took: the caller that started it, callers of
/// <see cref="IRcBatch.FlushAsync"/> that wait for it, and handles it took that are awaited. Each waiter's token bounds
/// its own wait; the flush's loaders are cancelled only once every waiter has given up (or the batch has ended), and the
/// last one to give up returns once they have, as a flush with one caller always did.
/// </summary>
internal sealed class FlushWork
{
    private readonly CancellationTokenSource _stop;
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _waiters = 1; // the caller that starts it

    /// <param name="ended">Fires when the batch ends: the flush stops then, whoever waits.</param>
    public FlushWork(CancellationToken ended) => _stop = CancellationTokenSource.CreateLinkedTokenSource(ended);

    /// <summary>Gets the token the flush's reads, loaders and writes run under.</summary>
    public CancellationToken Token => _stop.Token;

    /// <summary>Gets a task that completes when every lookup the flush took is resolved (with a value or an error).</summary>
    public Task Done => _done.Task;

    /// <summary>Marks the flush done: every lookup it took is resolved.</summary>
    public void Complete() => _done.TrySetResult();

    /// <summary>
    /// Waits for <paramref name="what"/> (the flush, or one lookup it took) as one of the flush's waiters (the caller that
    /// started it is one already, <paramref name="joined"/>). When <paramref name="cancellationToken"/> fires first, this
    /// waiter leaves: if it was the last, the flush's loaders are cancelled and this returns once the flush is done.
    /// </summary>
    public async Task WaitAsync(Task what, bool joined, CancellationToken cancellationToken)
    {
        if (!joined)
        {
            Interlocked.Increment(ref _waiters);
        }

        try
        {
            await what.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            if (Interlocked.Decrement(ref _waiters) == 0 && !_done.Task.IsCompleted)
            {
                await _stop.CancelAsync().ConfigureAwait(false);
                await _done.Task.ConfigureAwait(false);
            }

            throw;
        }

        Interlocked.Decrement(ref _waiters);
    }
}
