using System.Collections.Concurrent;
using System.Threading.Tasks.Sources;

namespace RcAspNet.Stores.Redis;

/// <summary>
/// A command's reply, awaited until a deadline token or the caller's token fires, whichever comes first: what
/// <c>task.WaitAsync(token)</c> does, without its promise and linked token source per call (the allocation profile of
/// <c>throughput --allocations true</c> named them). Instances are reused: one that its reply completed goes back to a
/// small pool once its result is read; one that a token completed first is left to the collector, since its reply may
/// still arrive.
/// </summary>
internal sealed class TimedReply<T> : IValueTaskSource<T>
{
    private const int Waiting = 0;
    private const int Done = 1;

    private const int MostSpares = 1024;

    [ThreadStatic]
    private static TimedReply<T>? t_spare;

    // Shared by every thread: a reply is often awaited on one thread and answered on another (a web request starts on
    // one and its reply completes on the client's), so a cache per thread or per core alone seldom has one to lend.
    private static readonly ConcurrentQueue<TimedReply<T>> Spares = new();
    private static int s_spareCount;

    private readonly Action _onReply;
    private ManualResetValueTaskSourceCore<T> _core;
    private Task<T>? _task;
    private CancellationTokenRegistration _deadline;
    private CancellationTokenRegistration _caller;
    private int _state;
    private bool _replied;

    private TimedReply() => _onReply = OnReply;

    /// <summary>Waits for <paramref name="task"/>'s reply, or for the first of the two tokens; a token that fires first throws an <see cref="OperationCanceledException"/> of its own.</summary>
    public static ValueTask<T> WaitAsync(Task<T> task, CancellationToken deadline, CancellationToken caller)
    {
        var reply = Rent();
        reply._task = task;
        reply._state = Waiting;
        reply._replied = false;

        // The token registrations come first: a reply that arrives at once then finds them to unregister.
        reply._deadline = deadline.UnsafeRegister(static (s, token) => ((TimedReply<T>)s!).OnCancelled(token), reply);
        if (caller.CanBeCanceled)
        {
            reply._caller = caller.UnsafeRegister(static (s, token) => ((TimedReply<T>)s!).OnCancelled(token), reply);
        }

        task.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(reply._onReply);
        return new(reply, reply._core.Version);
    }

    public T GetResult(short token)
    {
        if (token != _core.Version)
        {
            return _core.GetResult(token); // throws: not this use of the instance
        }

        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            // A registration whose callback is running is waited for; none can touch this instance after.
            _deadline.Dispose();
            _caller.Dispose();
            if (_replied)
            {
                Return();
            }
        }
    }

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);

    private static TimedReply<T> Rent()
    {
        if (t_spare is { } spare)
        {
            t_spare = null;
            return spare;
        }

        if (Spares.TryDequeue(out spare))
        {
            Interlocked.Decrement(ref s_spareCount);
            return spare;
        }

        return new TimedReply<T>();
    }

    private void Return()
    {
        _task = null;
        _deadline = default;
        _caller = default;
        _core.Reset();
        if (t_spare is null)
        {
            t_spare = this;
            return;
        }

        if (Interlocked.Increment(ref s_spareCount) <= MostSpares)
        {
            Spares.Enqueue(this);
        }
        else
        {
            Interlocked.Decrement(ref s_spareCount);
        }
    }

    private void OnReply()
    {
        var task = _task!;
        if (Interlocked.Exchange(ref _state, Done) != Waiting)
        {
            // A token came first: the caller has its exception; this observes the reply's.
            _ = task.Exception;
            return;
        }

        _deadline.Unregister();
        _caller.Unregister();
        _replied = true;
        if (task.IsCompletedSuccessfully)
        {
            _core.SetResult(task.Result);
        }
        else
        {
            _core.SetException(task.IsCanceled ? new TaskCanceledException(task) : task.Exception!.InnerException!);
        }
    }

    private void OnCancelled(CancellationToken token)
    {
        if (Interlocked.Exchange(ref _state, Done) == Waiting)
        {
            // Every call of a deadline slot times out on one thread: each caller goes on on a thread of its own. (This
            // instance is not reused, so the setting stays with it.)
            _core.RunContinuationsAsynchronously = true;
            _core.SetException(new OperationCanceledException(token));
        }
    }
}
