using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using RcAspNet.Tests.Infrastructure;
using Xunit.Abstractions;

namespace RcAspNet.Tests.Reliability;

/// <summary>
/// The synchronous members of <c>IDistributedCache</c> (Get, Set, Refresh, Remove, and TryGet of
/// <c>IBufferDistributedCache</c>) never wait on the thread pool. Each test runs RcAspNet.SyncBurst in a process of
/// its own, whose pool starts cold at its default minimum: forty pool threads, held at a gate, make one synchronous
/// call each at the same moment, and then forty more make a Set each. A call that waited for a pool thread would wait
/// for the pool to grow, half a second or more; a blocking call on the caller's own thread takes a few milliseconds.
/// </summary>
[Collection(AloneCollection.Name)]
public sealed class SyncBurstTests(ITestOutputHelper output) : IAsyncLifetime
{
    /// <summary>Far above the few milliseconds a call takes on a loaded machine, far below a wait for the pool to grow.</summary>
    private const double CallLimitMs = 100;

    /// <summary>Healthy servers: a call that waits shows up as a slow call, not as a timeout that reads as a miss.</summary>
    private const int HealthyTimeoutMs = 5000;

    private const int FrozenTimeoutMs = 250;

    /// <summary>A call to the frozen shard waits out the operation timeout, and may then wait this long for a CPU.</summary>
    private const int FrozenMarginMs = 250;

    private static readonly TimeSpan RunLimit = TimeSpan.FromMinutes(3);

    private readonly List<RedisServer> _servers = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var server in _servers)
        {
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task MemoryStore_FortySyncCallsAtOnceOnAColdPool_EachReturnsWithin100Ms()
    {
        var report = await RunAsync(["--store", "memory"]);
        AssertAllHitFast(report);
    }

    [Fact]
    public async Task Redis_FortySyncCallsAtOnceOnAColdPool_EachReturnsWithin100Ms()
    {
        var server = await SharedRedis.Single;
        var report = await RunAsync(["--store", "redis", "--redis", server.EndPoint]);
        AssertAllHitFast(report);
    }

    [Fact]
    public async Task ShardedCrc32_FortySyncCallsAtOnceOnAColdPool_EachReturnsWithin100Ms()
    {
        var servers = await SharedRedis.Shards;
        var report = await RunAsync(["--store", "sharded", "--shards", string.Join(",", servers.Select(static s => s.EndPoint))]);
        AssertAllHitFast(report);
    }

    [Fact]
    public async Task Cluster_FortySyncCallsAtOnceOnAColdPool_EachReturnsWithin100Ms()
    {
        var cluster = await SharedRedis.Cluster;
        var report = await RunAsync(["--store", "cluster", "--redis", cluster.Configuration]);
        AssertAllHitFast(report);
    }

    [Fact]
    public async Task ShardedWithOneShardFrozen_EachSyncCallReturnsWithinTheTimeout_LiveShardsStillHit()
    {
        var servers = await RedisServer.StartManyAsync(3);
        _servers.AddRange(servers);
        JsonElement report;
        try
        {
            report = await RunAsync(
                ["--store", "sharded", "--shards", string.Join(",", servers.Select(static s => s.EndPoint)), "--timeout-ms", Ms(FrozenTimeoutMs), "--frozen-shard", "1", "--wait"],
                whenReady: servers[1].Pause,
                whenDone: servers[1].Resume);
        }
        finally
        {
            servers[1].Resume();
        }

        var calls = Calls(report);
        var frozen = calls.Where(static c => c.Frozen).ToArray();
        var live = calls.Where(static c => !c.Frozen).ToArray();
        output.WriteLine($"frozen shard: {frozen.Length} calls to it, slowest {Max(frozen):0.0} ms (Rc:OperationTimeout {FrozenTimeoutMs} ms); {live.Length} calls to the live shards, slowest {Max(live):0.0} ms");
        AssertColdPool(report);
        AssertNoMissOrError(report);
        Assert.True(frozen.Length > 0, "Some calls must go to the frozen shard.");
        Assert.True(report.GetProperty("frozenHits").GetInt32() == 0, "A read of the frozen shard answered: the freeze did not take.");
        AssertEachUnder(calls, FrozenTimeoutMs + FrozenMarginMs);
    }

    private void AssertAllHitFast(JsonElement report)
    {
        AssertColdPool(report);
        AssertNoMissOrError(report);
        AssertEachUnder(Calls(report), CallLimitMs);
    }

    private static void AssertNoMissOrError(JsonElement report)
    {
        var failures = report.GetProperty("failures").EnumerateArray().Select(static f => f.GetString()).ToArray();
        Assert.True(
            report.GetProperty("misses").GetInt32() == 0 && report.GetProperty("errors").GetInt32() == 0,
            $"{report.GetProperty("misses").GetInt32()} misses and {report.GetProperty("errors").GetInt32()} errors: {string.Join("; ", failures.Take(10))}.");
    }

    /// <summary>The premise: the pool could not serve the burst without growing, and every item of it reached the gate.</summary>
    private static void AssertColdPool(JsonElement report)
    {
        Assert.True(report.GetProperty("minWorkerThreads").GetInt32() < 40, "The child's pool must start below a thread per call.");
        foreach (var burst in report.GetProperty("bursts").EnumerateArray())
        {
            Assert.Equal(40, burst.GetProperty("arrived").GetInt32());
        }
    }

    private static void AssertEachUnder(IReadOnlyList<(string Op, string Key, double Ms, bool Frozen)> calls, double limitMs)
    {
        var slow = calls.Where(c => c.Ms >= limitMs).OrderByDescending(static c => c.Ms).ToArray();
        Assert.True(slow.Length == 0, $"{slow.Length} of {calls.Count} synchronous calls took {limitMs} ms or more: {string.Join(", ", slow.Take(10).Select(static c => $"{c.Op} {c.Key} {c.Ms:0.0} ms"))}.");
    }

    /// <summary>Runs the program to its one line of JSON; <paramref name="whenReady"/> runs once its keys are written, <paramref name="whenDone"/> once it has reported.</summary>
    private async Task<JsonElement> RunAsync(string[] args, Action? whenReady = null, Action? whenDone = null)
    {
        var program = Path.Combine(AppContext.BaseDirectory, "SyncBurst", "RcAspNet.SyncBurst.dll");
        Assert.True(File.Exists(program), $"{program} is missing: the test project copies it there when it builds.");
        var info = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.ArgumentList.Add(program);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        if (!args.Contains("--timeout-ms"))
        {
            info.ArgumentList.Add("--timeout-ms");
            info.ArgumentList.Add(Ms(HealthyTimeoutMs));
        }

        using var process = Process.Start(info)!;
        using var limit = new CancellationTokenSource(RunLimit);
        var errors = process.StandardError.ReadToEndAsync(limit.Token);
        try
        {
            var started = Stopwatch.StartNew();
            var line = await process.StandardOutput.ReadLineAsync(limit.Token);
            if (line == "ready")
            {
                whenReady?.Invoke();
                await process.StandardInput.WriteLineAsync("go");
                await process.StandardInput.FlushAsync(limit.Token);
                line = await process.StandardOutput.ReadLineAsync(limit.Token);
            }

            whenDone?.Invoke();
            await process.WaitForExitAsync(limit.Token);
            Assert.True(process.ExitCode == 0 && line is not null, $"RcAspNet.SyncBurst {string.Join(' ', args)} exited with {process.ExitCode}: {line}{Environment.NewLine}{await errors}");
            var report = JsonDocument.Parse(line!).RootElement.Clone();
            Report(report, started.Elapsed);
            return report;
        }
        catch (OperationCanceledException) when (limit.IsCancellationRequested)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"RcAspNet.SyncBurst {string.Join(' ', args)} did not finish within {RunLimit}.");
        }
    }

    /// <summary>The figures, per burst and per kind of call.</summary>
    private void Report(JsonElement report, TimeSpan elapsed)
    {
        output.WriteLine($"{report.GetProperty("store").GetString()}: slowest call {report.GetProperty("maxMs").GetDouble():0.0} ms, misses {report.GetProperty("misses").GetInt32()}, errors {report.GetProperty("errors").GetInt32()}, writes repeated before the bursts {report.GetProperty("rewrites").GetInt32()}; pool minimum {report.GetProperty("minWorkerThreads").GetInt32()} worker threads on {report.GetProperty("processorCount").GetInt32()} cores; run {elapsed.TotalSeconds:0.0} s");
        foreach (var burst in report.GetProperty("bursts").EnumerateArray())
        {
            var calls = burst.GetProperty("calls").EnumerateArray().Select(Call).ToArray();
            var byKind = string.Join(", ", calls.GroupBy(static c => c.Op).Select(static g => $"{g.Key} {g.Max(static c => c.Ms):0.0}"));
            output.WriteLine($"  {burst.GetProperty("name").GetString()} burst: {burst.GetProperty("arrived").GetInt32()} at the gate, {burst.GetProperty("poolThreadsAtGate").GetInt32()} pool threads, {burst.GetProperty("pendingAtGate").GetInt64()} items waiting for one; slowest ms by call: {byKind}");
        }
    }

    private static (string Op, string Key, double Ms, bool Frozen)[] Calls(JsonElement report) =>
        report.GetProperty("bursts").EnumerateArray().SelectMany(static b => b.GetProperty("calls").EnumerateArray()).Select(Call).ToArray();

    private static (string Op, string Key, double Ms, bool Frozen) Call(JsonElement call) =>
        (call.GetProperty("op").GetString()!, call.GetProperty("key").GetString()!, call.GetProperty("ms").GetDouble(), call.GetProperty("frozen").GetBoolean());

    private static double Max(IEnumerable<(string Op, string Key, double Ms, bool Frozen)> calls) => calls.Select(static c => c.Ms).DefaultIfEmpty().Max();

    private static string Ms(int milliseconds) => milliseconds.ToString(CultureInfo.InvariantCulture);

    /// <summary>The dotnet host running these tests, or the one on the path.</summary>
    private static string DotnetHost() =>
        Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet" ? path : "dotnet";
}
