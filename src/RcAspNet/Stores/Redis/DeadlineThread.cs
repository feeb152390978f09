using System.Diagnostics;

namespace RcAspNet.Stores.Redis;

/// <summary>
/// One background thread, shared by the process, that cancels deadline tokens when they are due. It cancels with
/// <see cref="CancellationTokenSource.CancelAsync"/>: the token reads as cancelled at once, even while the thread pool
/// is starved, and its callbacks (the awaiting callers) run on the pool, never on this thread.
/// </summary>
internal static class DeadlineThread
{
    private static readonly PriorityQueue<CancellationTokenSource, long> Due = new();
    private static readonly object Gate = new(); // Monitor.Wait needs a monitor, not a Lock
    private static Thread? _thread;

    public static void Schedule(long due, CancellationTokenSource source)
    {
        lock (Gate)
        {
            var wake = !Due.TryPeek(out _, out var earliest) || due < earliest;
            Due.Enqueue(source, due);
            if (_thread is null)
            {
                _thread = new Thread(Run) { IsBackground = true, Name = "RcAspNet deadlines" };
                _thread.Start();
            }
            else if (wake)
            {
                Monitor.Pulse(Gate);
            }
        }
    }

    private static void Run()
    {
        var expired = new List<CancellationTokenSource>();
        while (true)
        {
            lock (Gate)
            {
                while (true)
                {
                    var now = Stopwatch.GetTimestamp();
                    while (Due.TryPeek(out _, out var due) && due <= now)
                    {
                        expired.Add(Due.Dequeue());
                    }

                    if (expired.Count > 0)
                    {
                        break;
                    }

                    if (Due.TryPeek(out _, out var next))
                    {
                        // Whole milliseconds, rounded up: a wait rounded down to 0 would spin until the deadline.
                        Monitor.Wait(Gate, (int)Math.Clamp(((next - now) * 1000 + Stopwatch.Frequency - 1) / Stopwatch.Frequency, 1, int.MaxValue));
                    }
                    else
                    {
                        Monitor.Wait(Gate);
                    }
                }
            }

            foreach (var source in expired)
            {
                _ = source.CancelAsync();
            }

            expired.Clear();
        }
    }
}
