using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Caching.Distributed;

namespace RcAspNet.Tests.Infrastructure;

/// <summary>
/// Workers that write then read keys of an application's cache until stopped, as concurrent requests would, and
/// record every operation's outcome and latency. Each key has one worker, which writes <c>key#n</c> and reads it back,
/// so a read tells the value just written from an older one of the same key and from another key's. Even workers use
/// <see cref="IRcCache"/> (Set, Get, then GetOrSet), odd ones <see cref="IDistributedCache"/> (SetString, GetString).
/// </summary>
public sealed class CacheLoad
{
    private readonly ConcurrentQueue<LoadOperation> _operations = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task[] _workers;

    private CacheLoad(IRcCache cache, IDistributedCache distributed, IReadOnlyList<string> keys, int workers, TimeSpan pause) =>
        _workers = Enumerable.Range(0, workers)
            .Select(w => Task.Run(() => RunAsync(w, cache, distributed, keys.Where((_, i) => i % workers == w).ToArray(), pause)))
            .ToArray();

    /// <summary>Gets the operations recorded so far.</summary>
    public IReadOnlyCollection<LoadOperation> Operations => _operations;

    /// <summary>Starts <paramref name="workers"/> workers over <paramref name="keys"/>, each pausing <paramref name="pause"/> between rounds.</summary>
    public static CacheLoad Start(IRcCache cache, IDistributedCache distributed, IReadOnlyList<string> keys, int workers, TimeSpan pause) =>
        new(cache, distributed, keys, workers, pause);

    /// <summary>Stops the workers after their current round; returns every operation recorded.</summary>
    public async Task<IReadOnlyList<LoadOperation>> StopAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_workers);
        _stop.Dispose();
        return [.. _operations];
    }

    private static LoadOutcome Classify(string key, string written, string? read) =>
        read is null ? LoadOutcome.Miss
        : read == written ? LoadOutcome.Fresh
        : read.StartsWith(key + "#", StringComparison.Ordinal) ? LoadOutcome.Stale
        : LoadOutcome.Foreign;

    private async Task RunAsync(int worker, IRcCache cache, IDistributedCache distributed, string[] keys, TimeSpan pause)
    {
        var typed = worker % 2 == 0;
        for (var n = 0; !_stop.IsCancellationRequested; n++)
        {
            var key = keys[n % keys.Length];
            var value = $"{key}#{worker}.{n}";
            if (typed)
            {
                await RecordAsync("IRcCache.SetAsync", key, async () =>
                {
                    await cache.SetAsync(key, value);
                    return (LoadOutcome.Written, null);
                });
                await RecordAsync("IRcCache.GetAsync", key, async () =>
                {
                    var read = await cache.GetAsync<string>(key);
                    return (Classify(key, value, read), read);
                });
                await RecordAsync("IRcCache.GetOrSetAsync", key, async () =>
                {
                    var loaded = $"{key}#{worker}.{n}.loaded";
                    var read = await cache.GetOrSetAsync(key, _ => ValueTask.FromResult(loaded));
                    return (read == loaded ? LoadOutcome.Miss : Classify(key, value, read), read);
                });
            }
            else
            {
                await RecordAsync("IDistributedCache.SetStringAsync", key, async () =>
                {
                    await distributed.SetStringAsync(key, value);
                    return (LoadOutcome.Written, null);
                });
                await RecordAsync("IDistributedCache.GetStringAsync", key, async () =>
                {
                    var read = await distributed.GetStringAsync(key);
                    return (Classify(key, value, read), read);
                });
            }

            // Yield between rounds, so a worker whose calls all complete at once (an open circuit) shares the CPU.
            if (pause > TimeSpan.Zero)
            {
                await Task.Delay(pause);
            }
            else
            {
                await Task.Yield();
            }
        }
    }

    private async Task RecordAsync(string call, string key, Func<Task<(LoadOutcome Outcome, string? Detail)>> operation)
    {
        var started = Stopwatch.GetTimestamp();
        (LoadOutcome Outcome, string? Detail) result;
        try
        {
            result = await operation();
        }
        catch (Exception ex)
        {
            result = (LoadOutcome.Threw, ex.GetType().Name + ": " + ex.Message);
        }

        _operations.Enqueue(new LoadOperation(call, key, started, Stopwatch.GetElapsedTime(started), result.Outcome, result.Detail));
    }
}
