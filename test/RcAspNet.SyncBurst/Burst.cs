namespace RcAspNet.SyncBurst;

/// <summary>
/// Queues work items on the thread pool that each wait at one gate; once all of them have arrived (the pool has grown
/// from its minimum to a thread per item, and every one of those threads is held), the gate opens and all of them make
/// their synchronous calls at once. A call that needed a pool thread to finish would wait for the pool to grow again.
/// </summary>
internal static class Burst
{
    /// <summary>How long the pool may take to grow to a thread per item: seconds, or a minute on a loaded machine.</summary>
    private static readonly TimeSpan ArrivalLimit = TimeSpan.FromMinutes(2);

    public static BurstResult Run(string name, int count, Func<int, IReadOnlyList<SyncCall>> work)
    {
        // A task, not an event: the pool sees threads blocked on a task and grows within seconds instead of adding a
        // thread a second, and its minimum stays where it was.
        var gate = new TaskCompletionSource();
        using var arrived = new CountdownEvent(count);
        using var done = new CountdownEvent(count);
        var calls = new IReadOnlyList<SyncCall>[count];
        for (var i = 0; i < count; i++)
        {
            var item = i;
            ThreadPool.QueueUserWorkItem(_ =>
            {
                try
                {
                    arrived.Signal();
                    gate.Task.Wait();
                    calls[item] = work(item);
                }
                finally
                {
                    done.Signal();
                }
            });
        }

        arrived.Wait(ArrivalLimit);
        var reached = count - arrived.CurrentCount;
        var threads = ThreadPool.ThreadCount;
        var pending = ThreadPool.PendingWorkItemCount;
        gate.SetResult();
        done.Wait();
        return new BurstResult(name, reached, threads, pending, [.. calls.SelectMany(static c => c)]);
    }
}
