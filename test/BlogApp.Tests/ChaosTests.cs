using System.Diagnostics;
using System.Globalization;
using System.Net;
using BlogApp.Tests.Infrastructure;
using RcAspNet.Tests.Infrastructure;
using Xunit.Abstractions;

namespace BlogApp.Tests;

/// <summary>
/// The blog on three real shards under a load of concurrent requests while one shard is killed and restarted, or
/// frozen and thawed: no request may fail, latency stays bounded, and hits come back after the shard does.
/// </summary>
public sealed class ChaosTests(ITestOutputHelper output) : IAsyncLifetime
{
    private RedisServer[] _servers = [];
    private BlogFactory? _blog;

    public async Task InitializeAsync()
    {
        _servers = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => RedisServer.StartAsync()));
        var settings = new Dictionary<string, string?>
        {
            ["Blog:SeedPosts"] = "50",
            ["Rc:Store"] = "Sharded",
            ["Rc:OperationTimeout"] = "00:00:00.250",
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
        Assert.True(result.Max < TimeSpan.FromSeconds(5), $"The slowest request took {result.Max.TotalMilliseconds} ms.");
        await AssertHitsComeBackAsync();
        Assert.Equal("Healthy", await HealthAsync());
    }

    [Fact]
    public async Task ShardFrozenUnderLoad_NoRequestFailsAndLatencyStaysBounded()
    {
        var load = LoadAsync(TimeSpan.FromSeconds(6));
        await Task.Delay(1500);
        _servers[2].Pause();
        await Task.Delay(2500);
        _servers[2].Resume();
        var result = await load;

        Report("freeze and thaw", result);
        Assert.Equal(0, result.Failed);
        Assert.True(result.Max < TimeSpan.FromSeconds(5), $"The slowest request took {result.Max.TotalMilliseconds} ms.");
        await AssertHitsComeBackAsync();
    }

    private async Task<LoadResult> LoadAsync(TimeSpan duration)
    {
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

                latencies.Add(Stopwatch.GetElapsedTime(started));
            }
        })));
        var sorted = latencies.Order().ToArray();
        return new LoadResult(sorted.Length, failed, sorted[sorted.Length / 2], sorted[(int)(sorted.Length * 0.99)], sorted[^1]);
    }

    private async Task<string> HealthAsync()
    {
        using var client = _blog!.CreateClient();
        return await client.GetStringAsync("/health");
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

    private sealed record LoadResult(int Requests, int Failed, TimeSpan P50, TimeSpan P99, TimeSpan Max);
}
