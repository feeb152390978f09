using System.Net;

namespace RcAspNet.Stores.Redis;

/// <summary>
/// Resolves a server's host name for the library's own connections within their deadline. The system's resolver has no
/// timeout of its own (a DNS server that does not answer holds it for as long as its retries take, seconds), so it runs
/// on a thread of its own, and the connecting caller waits for it only until its deadline; callers that ask for the same
/// host meanwhile share that one lookup, so a resolver that hangs costs one thread, not one per call.
/// </summary>
internal static class HostResolver
{
    private static readonly Dictionary<(Func<string, IPAddress[]> Lookup, string Host), Task<IPAddress[]>> s_lookups = [];
    private static readonly Lock s_lock = new();

    /// <summary>The addresses of <paramref name="host"/> as <paramref name="lookup"/> finds them, before <paramref name="deadline"/> (a <see cref="System.Diagnostics.Stopwatch"/> timestamp).</summary>
    /// <exception cref="ConnectTimeoutException">The lookup did not complete by the deadline.</exception>
    public static IPAddress[] Resolve(string host, Func<string, IPAddress[]> lookup, long deadline)
    {
        if (IPAddress.TryParse(host, out var address))
        {
            return [address];
        }

        var key = (lookup, host);
        Task<IPAddress[]>? pending;
        lock (s_lock)
        {
            if (!s_lookups.TryGetValue(key, out pending))
            {
                s_lookups[key] = pending = Start(key);
            }
        }

        // A blocking wait on this thread: these connections never wait on the thread pool.
        bool done;
        try
        {
            done = pending.Wait(RespConnection.RemainingMilliseconds(deadline));
        }
        catch (AggregateException)
        {
            done = true; // the lookup failed: thrown as itself below
        }

        return done
            ? pending.GetAwaiter().GetResult()
            : throw new ConnectTimeoutException(new TimeoutException($"Resolving {host} did not complete within Rc:OperationTimeout."));
    }

    private static Task<IPAddress[]> Start((Func<string, IPAddress[]> Lookup, string Host) key)
    {
        var lookup = new TaskCompletionSource<IPAddress[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                lookup.SetResult(key.Lookup(key.Host));
            }
            catch (Exception ex)
            {
                lookup.SetException(ex);
                _ = lookup.Task.Exception; // observed: every caller may have stopped waiting
            }
            finally
            {
                // Done: the next connect asks again (the system's resolver caches as its configuration says).
                lock (s_lock)
                {
                    s_lookups.Remove(key);
                }
            }
        })
        {
            IsBackground = true,
            Name = "rc resolve",
        };
        thread.UnsafeStart(); // not with the first caller's context (its activity, its AsyncLocals) for as long as it hangs
        return lookup.Task;
    }
}
