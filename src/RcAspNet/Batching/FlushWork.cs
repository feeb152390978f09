namespace RcAspNet.Batching;

/// <summary>
/// One flush's resolution, shared by whoever waits for a lookup it took: the caller that started it, callers of
/// <see cref="IRcBatch.FlushAsync"/> that wait for it, and handles it took that are awaited. Each waiter's token bounds
/// its own wait. When the last waiter gives up, the flush's loaders are cancelled, and that waiter returns once the flush
/// is done, as a flush with one caller always did. The batch's end cancels it too.
/// A loader of the batch that waits for a lookup is not counted (the flush waits for it), and a loader that gives up
/// never waits for a flush to be done; a flush a loader starts counts it as its caller.
/// </summary>
internal sealed class FlushWork
{
    private readonly CancellationTokenSource _stop = new();
    private readonly CancellationTokenRegistration _ended;
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _waiters = 1; // the caller that starts it

    /// <param name="ended">Fires when the batch ends: the flush stops then, whoever waits.</param>
    public FlushWork(CancellationToken ended) =>
        _ended = ended.UnsafeRegister(static s => ((FlushWork)s!).Stop(), this);

    /// <summary>Gets the token the flush's reads, loaders and writes run under.</summary>
    public CancellationToken Token => _stop.Token;

    /// <summary>Gets a task that completes when every lookup the flush took is resolved (with a value or an error).</summary>
    public Task Done => _done.Task;

    /// <summary>Marks the flush done: every lookup it took is resolved.</summary>
    public void Complete()
    {
        _ended.Dispose();
        _done.TrySetResult();
    }

    /// <summary>
    /// Waits for <paramref name="what"/> (the flush, or one lookup it took) as one of the flush's waiters (the caller that
    /// started it is one already: <paramref name="joined"/>). When <paramref name="cancellationToken"/> fires first, this
    /// waiter leaves. In a loader of the batch (<paramref name="inLoader"/>), a wait for a lookup is not counted (the
    /// flush running the loader, or one it waits for, may have taken it), and one that gives up never waits for the
    /// flush to be done (that flush may wait for this loader).
    /// </summary>
    public async Task WaitAsync(Task what, bool joined, bool inLoader, CancellationToken cancellationToken)
    {
        var counted = joined || !inLoader;
        if (!joined && counted)
        {
            Interlocked.Increment(ref _waiters);
        }

        try
        {
            await what.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            if (counted && Leave(gaveUp: true) && !inLoader)
            {
                await _done.Task.ConfigureAwait(false);
            }

            throw;
        }

        if (counted)
        {
            Leave(gaveUp: false);
        }
    }

    /// <summary>
    /// Counts a waiter out; returns whether that stopped the flush: the last waiter gave up. (One that leaves with its
    /// answer stops nothing: what is left of the flush, its other loads and its write-back, runs to its end.)
    /// </summary>
    private bool Leave(bool gaveUp)
    {
        if (Interlocked.Decrement(ref _waiters) > 0 || !gaveUp || _done.Task.IsCompleted)
        {
            return false;
        }

        Stop();
        return true;
    }

    private void Stop()
    {
        // On another thread: the loaders' cancellation callbacks run there, and what they throw is their lookups' failure.
        _ = _stop.CancelAsync().ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }
}
