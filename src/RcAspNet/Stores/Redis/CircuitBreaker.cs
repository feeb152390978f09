namespace RcAspNet.Stores.Redis;

/// <summary>
/// Decides whether calls may go to one server. It opens at the first timeout (a server that has just failed to answer
/// in time costs no caller a second timeout), after <c>threshold</c> other failures in a row (refused connections), and
/// whenever the server is held out of service (<see cref="Hold"/>: a removal was kept for it, or it must prove its
/// identity). While it is open, calls skip the server at once, and a recovery runs in the background: the first
/// <see cref="FirstWait"/> after a failure (at once after a hold), the next <see cref="FirstWait"/> after the first
/// fails, and each later one after twice as long as the last, never longer than <c>longestWait</c>. It closes only
/// when a recovery succeeded and <c>mayClose</c> agrees, under the node's lock, so that a removal kept meanwhile holds
/// it open.
/// </summary>
internal sealed class CircuitBreaker(
    int threshold,
    TimeSpan longestWait,
    TimeProvider time,
    Lock sync,
    Func<Task> recover,
    Func<bool> mayClose,
    Action<CircuitState> changed,
    Action<Exception, TimeSpan> failed,
    CancellationToken stopping)
{
    /// <summary>How long after a failure the first recovery is tried.</summary>
    public static readonly TimeSpan FirstWait = TimeSpan.FromMilliseconds(250);

    private int _state;
    private int _failures;
    private bool _recovering; // under sync

    public CircuitState State => (CircuitState)Volatile.Read(ref _state);

    /// <summary>Returns whether a call may go to the server now.</summary>
    public bool TryEnter() => Volatile.Read(ref _state) == (int)CircuitState.Closed;

    /// <summary>The server answered: failures in a row start again from zero. (Only a recovery closes an open circuit.)</summary>
    public void OnSuccess()
    {
        if (Volatile.Read(ref _failures) != 0)
        {
            Volatile.Write(ref _failures, 0);
        }
    }

    /// <summary>The server did not answer within the operation timeout.</summary>
    public void OnTimeout() => Open(FirstWait);

    /// <summary>
    /// The server refused this node's credentials, or its certificate was not accepted: every call would fail the same
    /// way, so it opens at once, as for a timeout, and recoveries ask the server again.
    /// </summary>
    public void OnRefused() => Open(FirstWait);

    /// <summary>The call failed without waiting (a refused or lost connection).</summary>
    public void OnFailure()
    {
        if (Interlocked.Increment(ref _failures) >= threshold)
        {
            Open(FirstWait);
        }
    }

    /// <summary>Holds the server out of service until a recovery succeeds; the caller holds the node's lock.</summary>
    public void Hold() => OpenLocked(TimeSpan.Zero);

    private void Open(TimeSpan wait)
    {
        lock (sync)
        {
            OpenLocked(wait);
        }
    }

    private void OpenLocked(TimeSpan wait)
    {
        if (Volatile.Read(ref _state) == (int)CircuitState.Closed)
        {
            Volatile.Write(ref _state, (int)CircuitState.Open);
            changed(CircuitState.Open);
        }

        if (!_recovering && !stopping.IsCancellationRequested)
        {
            _recovering = true;

            // The recovery belongs to no caller: nothing ambient of the call that opened the circuit (its activity, its
            // request's failure budget) flows into it.
            using (ExecutionContext.SuppressFlow())
            {
                _ = Task.Run(() => RecoverAsync(wait), CancellationToken.None);
            }
        }
    }

    private async Task RecoverAsync(TimeSpan wait)
    {
        var next = Min(FirstWait, longestWait);
        while (true)
        {
            try
            {
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, time, stopping).ConfigureAwait(false);
                }
                else
                {
                    await Task.Yield();
                }

                await recover().ConfigureAwait(false);
                lock (sync)
                {
                    if (mayClose())
                    {
                        Volatile.Write(ref _failures, 0);
                        Volatile.Write(ref _state, (int)CircuitState.Closed);
                        _recovering = false;
                        changed(CircuitState.Closed);
                        return;
                    }
                }

                // Something was kept while it recovered: recover again at once.
                wait = TimeSpan.Zero;
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                lock (sync)
                {
                    _recovering = false;
                }

                return;
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // Still failing: try again later, waiting twice as long each time.
                wait = next;
                next = Min(next * 2, longestWait);
                failed(ex, wait);
            }
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
