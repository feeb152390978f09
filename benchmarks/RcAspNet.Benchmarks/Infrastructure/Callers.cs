namespace RcAspNet.Benchmarks.Infrastructure;

/// <summary>
/// 64 concurrent callers, as 64 requests in flight would be: each starts on the thread pool and runs
/// <see cref="Rounds"/> operations one after another. A benchmark declares <c>OperationsPerInvoke = Operations</c>,
/// so its time is per operation and throughput is its inverse.
/// </summary>
internal static class Callers
{
    public const int Count = 64;
    public const int Rounds = 16;
    public const int Operations = Count * Rounds;

    public static Task RunAsync(Func<int, ValueTask> operation)
    {
        var callers = new Task[Count];
        for (var caller = 0; caller < callers.Length; caller++)
        {
            var id = caller;
            callers[caller] = Task.Run(() => CallAsync(id, operation));
        }

        return Task.WhenAll(callers);
    }

    /// <inheritdoc cref="RunAsync(Func{int, ValueTask})"/>
    public static Task RunAsync<T>(Func<int, ValueTask<T>> operation)
    {
        var callers = new Task[Count];
        for (var caller = 0; caller < callers.Length; caller++)
        {
            var id = caller;
            callers[caller] = Task.Run(() => CallAsync(id, operation));
        }

        return Task.WhenAll(callers);
    }

    private static async Task CallAsync(int caller, Func<int, ValueTask> operation)
    {
        for (var round = 0; round < Rounds; round++)
        {
            await operation(caller);
        }
    }

    private static async Task CallAsync<T>(int caller, Func<int, ValueTask<T>> operation)
    {
        for (var round = 0; round < Rounds; round++)
        {
            await operation(caller);
        }
    }
}
