namespace RcAspNet.Caching;

/// <summary>
/// One factory run that concurrent misses of a key share (stampede protection). Each caller waits with its own token; the factory's token
/// is cancelled only when every caller has left.
/// </summary>
internal sealed class InFlightLoad<T>
{
    private readonly TaskCompletionSource<T> _result = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _cancellation = new();
    private int _waiters = 1;
    private int _givenUp;
    private int _unwaited; // a caller stopped waiting for it past a timeout: its failure may reach no one
    private int _reported;

    public Task<T> Task => _result.Task;

    /// <summary>
    /// Gets the key's change mark when this load began (<see cref="CacheNamespace.ChangeMark"/>): a request that begins
    /// after this process changed the key does not join it, and what it loads is not written over the change.
    /// </summary>
    public long ChangeMark { get; init; }

    /// <summary>
    /// Gets the mark of its request's tags when this load began (<see cref="CacheNamespace.TagMark"/>): a request that
    /// begins after this process invalidated one of them, or that carries other tags, does not join it (what it loads
    /// is not written, by the tags' versions).
    /// </summary>
    public long TagMark { get; init; }

    /// <summary>Gets the tags of the request that began this load, whose mark <see cref="TagMark"/> is.</summary>
    public IReadOnlyList<string>? Tags { get; init; }

    /// <summary>Gets how many callers wait for this load now.</summary>
    public int Waiters => Volatile.Read(ref _waiters);

    /// <summary>
    /// Joins a load that still has callers; a load whose callers all left is being cancelled, and one a caller gave up on
    /// (<see cref="GiveUp"/>) may hang on: neither can be joined.
    /// </summary>
    public bool TryJoin()
    {
        if (Volatile.Read(ref _givenUp) != 0)
        {
            return false;
        }

        var waiters = Volatile.Read(ref _waiters);
        while (waiters > 0)
        {
            var seen = Interlocked.CompareExchange(ref _waiters, waiters + 1, waiters);
            if (seen == waiters)
            {
                return true;
            }

            waiters = seen;
        }

        return false;
    }

    /// <summary>
    /// A caller stopped waiting for this load past the hard timeout: it goes on, and stores its value if it still may,
    /// but the callers after it run a load of their own instead of waiting on a factory that may hang.
    /// </summary>
    public void GiveUp() => Volatile.Write(ref _givenUp, 1);

    /// <summary>
    /// A caller stopped waiting for this load past a timeout (it was answered otherwise, or failed): a failure of the
    /// load may then reach no caller. Returns that failure if the load has failed already and it was not reported yet.
    /// </summary>
    public Exception? StopWaiting()
    {
        // A full fence: RunAsync sets the result and then reads the flag, this sets the flag and then reads the result,
        // so one of the two sees the other's.
        Interlocked.Exchange(ref _unwaited, 1);
        return Unread();
    }

    /// <summary>
    /// Runs the load's work. Returns its failure when a caller stopped waiting for it (<see cref="StopWaiting"/>) and
    /// nobody reported it yet: the caller logs it once, however many callers stopped waiting.
    /// </summary>
    public async Task<Exception?> RunAsync(Func<CancellationToken, Task<T>> work)
    {
        try
        {
            _result.TrySetResult(await work(_cancellation.Token).ConfigureAwait(false));
        }
        catch (OperationCanceledException ex) when (ex is not RequestEndedException && _cancellation.IsCancellationRequested)
        {
            // Every caller left, and the work stopped on its token.
            _result.TrySetCanceled(ex.CancellationToken);
        }
        catch (Exception ex)
        {
            // Its own cancellation too (a client's timeout, say): the callers get it as the factory threw it.
            _result.TrySetException(ex);
            if (Waiters == 0)
            {
                _ = Task.Exception; // every caller left: no one reads it
            }
        }
        finally
        {
            _cancellation.Dispose();
        }

        return Unread();
    }

    /// <summary>The load's failure, the first time it is asked for once a caller stopped waiting for the load.</summary>
    private Exception? Unread() =>
        Task.IsFaulted && Volatile.Read(ref _unwaited) != 0 && Interlocked.Exchange(ref _reported, 1) == 0 ? Task.Exception!.InnerException : null;

    public async ValueTask<T> WaitAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested && !Task.IsCompleted)
        {
            await LeaveAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Waits at most <paramref name="timeout"/> for the load to end (with its value or its failure); false when it goes
    /// on past it. A caller that stops waiting so still counts as waiting: the load is not cancelled, and its result is
    /// stored when it completes.
    /// </summary>
    public async ValueTask<bool> TryWaitAsync(TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        try
        {
            // A timeout longer than a timer can count (about 24 days) is none.
            await (timeout.TotalMilliseconds < int.MaxValue ? ((Task)Task).WaitAsync(timeout, time, cancellationToken) : ((Task)Task).WaitAsync(cancellationToken)).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException) when (!Task.IsCompleted)
        {
            return false;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested && !Task.IsCompleted)
        {
            await LeaveAsync().ConfigureAwait(false);
            throw;
        }
        catch when (Task.IsCompleted)
        {
            // The load failed: the caller reads its failure from the task.
            return true;
        }
    }

    private async Task LeaveAsync()
    {
        if (Interlocked.Decrement(ref _waiters) == 0)
        {
            if (Task.IsFaulted)
            {
                _ = Task.Exception; // it failed as the last caller left: no one reads it
            }

            try
            {
                await _cancellation.CancelAsync().ConfigureAwait(false);
            }
            catch (ObjectDisposedException)
            {
            }
            catch (AggregateException)
            {
                // A callback the factory registered on its token threw: the factory's failure, not this caller's, who
                // leaves with its own cancellation.
            }
        }
    }
}
