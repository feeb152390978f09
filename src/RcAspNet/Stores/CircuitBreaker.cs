namespace RcAspNet.Stores;

/// <summary>
/// Skips a server after <c>threshold</c> failures in a row: the circuit opens for <c>breakDuration</c>, then lets one
/// call through as a probe (half-open). The probe's success closes it; its failure opens it again.
/// </summary>
internal sealed class CircuitBreaker(int threshold, TimeSpan breakDuration, TimeProvider time, Action<CircuitState> changed)
{
    private int _state;
    private int _failures;
    private long _openUntil;

    public CircuitState State => (CircuitState)Volatile.Read(ref _state);

    /// <summary>Returns whether a call may go to the server now.</summary>
    public bool TryEnter()
    {
        switch ((CircuitState)Volatile.Read(ref _state))
        {
            case CircuitState.Closed:
                return true;
            case CircuitState.Open when time.GetTimestamp() >= Volatile.Read(ref _openUntil):
                return Transition(CircuitState.Open, CircuitState.HalfOpen);
            default:
                return false;
        }
    }

    public void OnSuccess()
    {
        if (Volatile.Read(ref _failures) != 0)
        {
            Volatile.Write(ref _failures, 0);
        }

        var state = (CircuitState)Volatile.Read(ref _state);
        if (state != CircuitState.Closed)
        {
            Transition(state, CircuitState.Closed);
        }
    }

    public void OnFailure()
    {
        var failures = Interlocked.Increment(ref _failures);
        if (State == CircuitState.HalfOpen || (failures >= threshold && State == CircuitState.Closed))
        {
            Volatile.Write(ref _openUntil, time.GetTimestamp() + (long)(breakDuration.TotalSeconds * time.TimestampFrequency));
            Transition(State, CircuitState.Open);
        }
    }

    /// <summary>A call that entered ended without telling anything about the server (it was cancelled).</summary>
    public void OnAbandoned()
    {
        if (State == CircuitState.HalfOpen)
        {
            // Let the next call probe at once.
            Transition(CircuitState.HalfOpen, CircuitState.Open);
        }
    }

    private bool Transition(CircuitState from, CircuitState to)
    {
        if (from == to || Interlocked.CompareExchange(ref _state, (int)to, (int)from) != (int)from)
        {
            return false;
        }

        changed(to);
        return true;
    }
}
