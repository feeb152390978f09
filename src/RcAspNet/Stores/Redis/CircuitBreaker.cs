namespace RcAspNet.Stores.Redis;

/// <summary>
/// Decides whether calls may go to one server. It opens at the first timeout, so that a server which has just failed
/// to answer in time costs no caller a second timeout, and after <c>threshold</c> other failures in a row (refused
/// connections). While it is open, calls skip the server at once, and a background probe asks the server again every
/// <c>probeInterval</c>; the first answer, to the probe or to any call already under way, closes it.
/// </summary>
internal sealed class CircuitBreaker(int threshold, TimeSpan probeInterval, TimeProvider time, Func<Task> probe, Action<CircuitState> changed)
{
    private int _state;
    private int _failures;
    private int _probing;

    public CircuitState State => (CircuitState)Volatile.Read(ref _state);

    /// <summary>Returns whether a call may go to the server now.</summary>
    public bool TryEnter() => Volatile.Read(ref _state) == (int)CircuitState.Closed;

    /// <summary>The server answered.</summary>
    public void OnSuccess()
    {
        if (Volatile.Read(ref _failures) != 0)
        {
            Volatile.Write(ref _failures, 0);
        }

        if (Volatile.Read(ref _state) != (int)CircuitState.Closed && Interlocked.CompareExchange(ref _state, (int)CircuitState.Closed, (int)CircuitState.Open) == (int)CircuitState.Open)
        {
            changed(CircuitState.Closed);
        }
    }

    /// <summary>The server did not answer within the operation timeout.</summary>
    public void OnTimeout() => Open();

    /// <summary>The call failed without waiting (a refused or lost connection).</summary>
    public void OnFailure()
    {
        if (Interlocked.Increment(ref _failures) >= threshold)
        {
            Open();
        }
    }

    private void Open()
    {
        if (Interlocked.CompareExchange(ref _state, (int)CircuitState.Open, (int)CircuitState.Closed) == (int)CircuitState.Closed)
        {
            changed(CircuitState.Open);
            StartProbing();
        }
    }

    private void StartProbing()
    {
        if (Interlocked.Exchange(ref _probing, 1) == 0)
        {
            _ = ProbeAsync();
        }
    }

    private async Task ProbeAsync()
    {
        try
        {
            while (State == CircuitState.Open)
            {
                var started = time.GetTimestamp();
                try
                {
                    await probe().ConfigureAwait(false);
                    OnSuccess();
                    return;
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    // Still down: ask again after the interval.
                }

                var wait = probeInterval - time.GetElapsedTime(started);
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, time).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            Volatile.Write(ref _probing, 0);
        }

        // Opened again while this probe was finishing: probe again.
        if (State == CircuitState.Open)
        {
            StartProbing();
        }
    }
}
