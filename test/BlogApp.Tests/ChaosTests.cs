using System.Diagnostics;
using System.Globalization;
using System.Net;
using BlogApp.Tests.Infrastructure;
using RcAspNet.Tests.Infrastructure;
using Xunit.Abstractions;

namespace BlogApp.Tests;

/// <summary>
/// The blog on three real shards under a load of concurrent requests while one shard is killed and restarted, or
/// frozen and thawed: no request may fail, the failed shard costs no request its operation timeout more than once
/// (counted from the store's own activities, by the request's trace and the shard), and hits come back after the shard does.
/// </summary>
[Collection(ChaosCollection.Name)]
public sealed class ChaosTests(ITestOutputHelper output) : IAsyncLifetime, IDisposable
{
    private static readonly TimeSpan OperationTimeout = TimeSpan.FromMilliseconds(250);
    /// <summary>The store operations that timed out, by request (trace) and shard: when each began and ended.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(ActivityTraceId Request, string? Shard), List<(DateTime Began, DateTime Ended)>> _timeoutsByRequest = new();
    private readonly ActivityListener _listener = new();
    private RedisServer[] _servers = [];
    private BlogFactory? _blog;

    public void Dispose() => _listener.Dispose();

    public async Task InitializeAsync()
    {
        // Every request gets a trace (ASP.NET Core's activity), and every store operation is an activity in it.
        _listener.ShouldListenTo = static source => source.Name is "Microsoft.AspNetCore" or RcAspNet.RcDiagnostics.ActivitySourceName;
        _listener.Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData;
        _listener.ActivityStopped = activity =>
        {
            if (activity.Source.Name == RcAspNet.RcDiagnostics.ActivitySourceName && activity.StatusDescription == "timeout")
            {
                var timeouts = _timeoutsByRequest.GetOrAdd((activity.TraceId, activity.GetTagItem("rc.shard") as string), static _ => []);
                lock (timeouts)
                {
                    timeouts.Add((activity.StartTimeUtc, activity.StartTimeUtc + activity.Duration));
                }
            }
        };
        ActivitySource.AddActivityListener(_listener);

        _servers = await RedisServer.StartManyAsync(3);
        var settings = new Dictionary<string, string?>
        {
            ["Blog:SeedPosts"] = "50",
            ["Rc:Store"] = "Sharded",
            ["Rc:OperationTimeout"] = OperationTimeout.ToString("c", CultureInfo.InvariantCulture),
            ["Rc:CircuitBreakerThreshold"] = "3",
            ["Rc:CircuitBreakDuration"] = "00:00:01",
        };
        for (var i = 0; i < _servers.Length; i++)
        {
            settings[$"Rc:Shards:cache0{i + 1}:Host"] = "127.0.0.1";
            settings[$"Rc:Shards:cache0{i + 1}:Port"] = _servers[i].Port.ToString(CultureInfo.InvariantCulture);
        }

        _blog = new BlogFactory(settings);
        using var client = _blog.CreateClient();
        await client.GetStringAsync("/");
        for (var id = 1; id <= 50; id++)
        {
            await client.GetStringAsync($"/post/{id}");
        }

        // The same load for a while first, so that the thread pool has grown to it and the first requests' start-up
        // costs (which can exceed the operation timeout on a loaded machine) are not counted against the fault.
        await LoadAsync(TimeSpan.FromSeconds(1.5));
        var settled = Stopwatch.StartNew();
        while (await HealthAsync() != "Healthy" && settled.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(100);
        }

        _timeoutsByRequest.Clear();
    }

    public async Task DisposeAsync()
    {
        await _blog!.DisposeAsync();
        foreach (var server in _servers)
        {
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task ShardKilledAndRestartedUnderLoad_NoRequestFails()
    {
        var load = LoadAsync(TimeSpan.FromSeconds(6));
        await Task.Delay(1500);
        _servers[1].Kill();
        await Task.Delay(1000);
        Assert.Equal("Degraded", await HealthAsync());
        await Task.Delay(1000);
        await _servers[1].RestartAsync();
        var result = await load;

        Report("kill and restart", result);
        Assert.Equal(0, result.Failed);
        AssertBudget(result);
        await AssertHitsComeBackAsync();
        Assert.Equal("Healthy", await HealthAsync());
    }

    [Fact]
    public async Task ShardFrozenUnderLoad_NoRequestFailsOrPaysTheTimeoutTwice()
    {
        var load = LoadAsync(TimeSpan.FromSeconds(6));
        await Task.Delay(1500);
        _servers[2].Pause();
        try
        {
            await Task.Delay(2500);
        }
        finally
        {
            _servers[2].Resume();
        }

        var result = await load;

        Report("freeze and thaw", result);
        Assert.Equal(0, result.Failed);
        Assert.True(_timeoutsByRequest.Values.Sum(static t => t.Count) >= 1, "The frozen shard cost no request a timeout: the test froze nothing that was used.");
        AssertBudget(result);
        await AssertHitsComeBackAsync();
    }

    /// <summary>
    /// However many cache calls a request made, a failed shard cost it at most one operation timeout. Calls it had
    /// under way at once may time out together (a pipelined write of several keys, say): that is one timeout of waiting.
    /// What must never happen is a call that begins after another of the same request to the same shard has timed out
    /// and still waits: the request would pay the timeout twice. Checked exactly, by trace and shard, from the store's
    /// activities. The slowest request, whose other costs are those of any request on this loaded machine, stays within
    /// one timeout of the slowest request before the fault.
    /// </summary>
    private void AssertBudget(LoadResult result)
    {
        var groups = _timeoutsByRequest.Values.Select(static t =>
        {
            lock (t)
            {
                return t.ToArray();
            }
        }).ToArray();
        var paidTwice = groups.Count(static t => t.Max(static o => o.Began) >= t.Min(static o => o.Ended));
        var mostAtOnce = groups.Length == 0 ? 0 : groups.Max(static t => t.Length);
        output.WriteLine($"timeouts paid: {groups.Sum(static t => t.Length)} in {_timeoutsByRequest.Keys.Select(k => k.Request).Distinct().Count()} requests, at most {mostAtOnce} at once by one request to one shard, {paidTwice} begun after another of the same request and shard had timed out; slowest request {result.Max.TotalMilliseconds:0.0} ms, slowest before the fault {result.MaxBeforeFault.TotalMilliseconds:0.0} ms, OperationTimeout {OperationTimeout.TotalMilliseconds} ms");
        Assert.Equal(0, paidTwice);
        Assert.True(
            result.Max < result.MaxBeforeFault + (2 * OperationTimeout),
            $"The slowest request took {result.Max.TotalMilliseconds} ms: more than one OperationTimeout ({OperationTimeout.TotalMilliseconds} ms) beyond the slowest request before the fault ({result.MaxBeforeFault.TotalMilliseconds} ms), with a second one as margin for the loaded machine.");
    }

    private async Task<LoadResult> LoadAsync(TimeSpan duration)
    {
        var beforeFault = TimeSpan.Zero;
        var latencies = new System.Collections.Concurrent.ConcurrentBag<TimeSpan>();
        var failed = 0;
        var deadline = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, 16).Select(worker => Task.Run(async () =>
        {
            using var client = _blog!.CreateClient();
            var random = new Random(worker);
            for (var n = 0; deadline.Elapsed < duration; n++)
            {
                var path = n % 5 == 0 ? "/" : $"/post/{random.Next(1, 51)}";
                var started = Stopwatch.GetTimestamp();
                try
                {
                    using var response = await client.GetAsync(path);
                    await response.Content.ReadAsByteArrayAsync();
                    if (response.StatusCode != HttpStatusCode.OK)
                    {
                        Interlocked.Increment(ref failed);
                    }
                }
                catch (HttpRequestException)
                {
                    Interlocked.Increment(ref failed);
                }

                var latency = Stopwatch.GetElapsedTime(started);
                latencies.Add(latency);
                // The slowest request of the steady load before the fault.
                if (deadline.Elapsed < TimeSpan.FromSeconds(1.4))
                {
                    lock (latencies)
                    {
                        beforeFault = latency > beforeFault ? latency : beforeFault;
                    }
                }
            }
        })));
        var sorted = latencies.Order().ToArray();
        return new LoadResult(sorted.Length, failed, sorted[sorted.Length / 2], sorted[(int)(sorted.Length * 0.99)], sorted[^1], beforeFault);
    }

    private async Task<string> HealthAsync()
    {
        // Unhealthy answers 503: read its body too, so that a wait goes on and an assertion names the status.
        using var client = _blog!.CreateClient();
        using var response = await client.GetAsync("/health");
        return await response.Content.ReadAsStringAsync();
    }

    private async Task AssertHitsComeBackAsync()
    {
        using var client = _blog!.CreateClient();
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(15))
        {
            var hits = 0;
            for (var id = 1; id <= 50; id++)
            {
                using var response = await client.GetAsync($"/post/{id}");
                hits += response.Headers.GetValues("X-Cache").Single() == "HIT" ? 1 : 0;
            }

            if (hits == 50)
            {
                output.WriteLine($"every post page was a hit again {sw.ElapsedMilliseconds} ms after the load ended");
                return;
            }

            await Task.Delay(200);
        }

        Assert.Fail("Hits did not come back within 15 seconds of the shard's return.");
    }

    private void Report(string fault, LoadResult result) => output.WriteLine(
        $"{fault}: {result.Requests} requests, {result.Failed} failed, p50 {result.P50.TotalMilliseconds:0.0} ms, p99 {result.P99.TotalMilliseconds:0.0} ms, max {result.Max.TotalMilliseconds:0.0} ms");

    private sealed record LoadResult(int Requests, int Failed, TimeSpan P50, TimeSpan P99, TimeSpan Max, TimeSpan MaxBeforeFault);
}
