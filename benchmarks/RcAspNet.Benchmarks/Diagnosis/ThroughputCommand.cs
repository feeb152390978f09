using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Benchmarks.Infrastructure;
using RcAspNet.Caching;
using RcAspNet.Stores;
using RcAspNet.Stores.Redis;
using StackExchange.Redis;

namespace RcAspNet.Benchmarks.Diagnosis;

/// <summary>
/// 64 callers (or as many as --callers says; one is a sequential caller) on one Redis server (or, with --cluster, a Redis Cluster of three primaries), each on a key of its own (1 KiB), for a fixed time per contender, interleaved over
/// rounds: operations per second and bytes allocated per operation, outside BenchmarkDotNet, so that a profiler
/// (<c>dotnet-trace collect -- dotnet RcAspNet.Benchmarks.dll throughput --only rc-get --seconds 20</c>) can watch one
/// contender's steady state.
/// </summary>
internal static class ThroughputCommand
{
    private const int MostCallers = 64;
    private static readonly DistributedCacheEntryOptions Options = Entries.Options(sliding: false);

    public static async Task<int> RunAsync(string[] args)
    {
        if (CommandOptions.Parse(args, "throughput [--seconds 5] [--rounds 3] [--only raw-get,raw-get-awaited,raw-get-timed,raw-get-rcconn,raw-get-deadline,store-get,ms-get,rc-get,rc-tryget,raw-set,raw-set-deadline,store-set,ms-set,rc-set,raw-fill,raw-lease-fill,raw-lease-fill-sha,raw-setnxget-fill,rc-fill,mem-fill] [--allocations true] [--callers 64] [--cluster true]", "--seconds", "--rounds", "--only", "--callers", "--allocations", "--cluster") is not { } options)
        {
            return 2;
        }

        var seconds = options.Double("--seconds", 5.0);
        var rounds = Math.Max(1, options.Int("--rounds", 3));
        var only = options.List("--only");
        var allocations = options.Bool("--allocations", false);
        var callers = Math.Clamp(options.Int("--callers", MostCallers), 1, MostCallers);

        var cluster = options.Bool("--cluster", false);
        await using var fixture = cluster ? await Fixture.StartClusterAsync() : await Fixture.StartAsync(RcStoreKind.Redis);
        await using var memory = await Fixture.StartAsync(RcStoreKind.Memory);
        var raw = fixture.Raw[0];
        var payload = Entries.Payload(1024);
        var keys = Enumerable.Range(0, MostCallers).Select(static c => $"post:{c}").ToArray();
        var rawKeys = Enumerable.Range(0, MostCallers).Select(static c => (RedisKey)$"{Keys.Raw}post:{c}").ToArray();
        var microsoft = fixture.Microsoft;
        var cache = fixture.Cache;
        // Layers of rc-get, for diagnosis: the raw GET awaited by one more async method, and through TimedReply with no
        // token; the raw GET of the library's own entry on the store's own connection, and bounded as the store bounds it;
        // and the store alone (internal, through CacheRegistry.Stores as LayerBenchmarks reaches it).
        var namespacedKeys = keys.Select(static k => Keys.RcNamespace + k).ToArray();
        var rcKeys = namespacedKeys.Select(static k => (RedisKey)k).ToArray();
        var store = fixture.Services.GetRequiredService<CacheRegistry>().Stores[0];
        using var deadline = new CancellationTokenSource(TimeSpan.FromHours(1));
        var rcConnection = (await ((IRedisBackedStore)store).GetConnectionsAsync(CancellationToken.None)).Values.First().GetDatabase();
        var writers = Enumerable.Range(0, MostCallers).Select(static _ => new ArrayBufferWriter<byte>(2048)).ToArray();

        // Misses that load: each on a key never read before (a short value that lives 30 s, so that the server holds a
        // bounded number of them), read, then written, by the raw client and by GetOrSetAsync.
        var typed = fixture.Services.GetRequiredService<IRcCache>();
        var memoryTyped = memory.Services.GetRequiredService<IRcCache>();
        var small = new string('x', 64);
        var fillTimeToLive = TimeSpan.FromSeconds(30);
        var fillOptions = new RcEntryOptions { Expiration = fillTimeToLive };
        var fills = 0L;
        var contenders = new (string Name, Func<int, ValueTask> Operation)[]
        {
            ("raw-get", c => new ValueTask(raw.StringGetAsync(rawKeys[c]))),
            ("raw-get-awaited", c => AwaitedAsync(raw.StringGetAsync(rawKeys[c]))),
            ("raw-get-timed", c => RawWithDeadlineAsync(raw.StringGetAsync(rawKeys[c]), CancellationToken.None)),
            ("raw-get-rcconn", c => new ValueTask(rcConnection.StringGetAsync(rcKeys[c]))),
            ("raw-get-deadline", c => RawWithDeadlineAsync(raw.StringGetAsync(rcKeys[c]), deadline.Token)),
            ("store-get", c => StoreGetAsync(store, namespacedKeys[c])),
            ("ms-get", c => new ValueTask(microsoft.GetAsync(keys[c]))),
            ("rc-get", c => new ValueTask(cache.GetAsync(keys[c]))),
            ("rc-tryget", c => TryGetAsync(cache, keys[c], writers[c])),
            ("raw-set", c => new ValueTask(raw.StringSetAsync(rawKeys[c], payload, Entries.TimeToLive))),
            ("raw-set-deadline", c => RawWithDeadlineAsync(raw.StringSetAsync(rcKeys[c], payload, Entries.TimeToLive), deadline.Token)),
            ("store-set", c => StoreSetAsync(store, namespacedKeys[c], payload)),
            ("ms-set", c => new ValueTask(microsoft.SetAsync(keys[c], payload, Options))),
            ("rc-set", c => new ValueTask(cache.SetAsync(keys[c], payload, Options))),
            ("raw-fill", _ => RawFillAsync(raw, $"{Keys.Raw}fill:{Interlocked.Increment(ref fills)}", small, fillTimeToLive)),
            ("raw-lease-fill", _ => RawLeaseFillAsync(raw, $"{Keys.Raw}fill:{Interlocked.Increment(ref fills)}", small, fillTimeToLive)),
            ("raw-lease-fill-sha", _ => RawLeaseFillShaAsync(raw, $"{Keys.Raw}fill:{Interlocked.Increment(ref fills)}", small, fillTimeToLive)),
            ("raw-setnxget-fill", _ => RawSetNxGetFillAsync(raw, $"{Keys.Raw}fill:{Interlocked.Increment(ref fills)}", small, fillTimeToLive)),
            ("mem-fill", _ => new ValueTask(memoryTyped.GetOrSetAsync($"fill:{Interlocked.Increment(ref fills)}", _ => ValueTask.FromResult(small), fillOptions).AsTask())),
            ("rc-fill", _ => new ValueTask(typed.GetOrSetAsync($"fill:{Interlocked.Increment(ref fills)}", _ => ValueTask.FromResult(small), fillOptions).AsTask())),
        };
        contenders = [.. contenders.Where(c => only is null || only.Contains(c.Name))];
        if (contenders.Length == 0)
        {
            Console.Error.WriteLine($"--only {string.Join(',', only!)} names no contender");
            return 2;
        }


        await fixture.SetUpAsync(async () =>
        {
            // Every primary knows the scripts, for the rows that send them by SHA-1 alone (a cluster has three).
            foreach (var endPoint in raw.Multiplexer.GetEndPoints())
            {
                if (raw.Multiplexer.GetServer(endPoint) is { IsConnected: true, IsReplica: false } server)
                {
                    await server.ScriptLoadAsync(RedisCommands.LeaseScript);
                    await server.ScriptLoadAsync(RedisCommands.FillScript);
                }
            }

            await raw.ScriptEvaluateAsync(RedisCommands.LeaseScript, ["{warm}lease"], ["t", 1000]);
            await raw.ScriptEvaluateAsync(RedisCommands.FillScript, ["{warm}fill", "{warm}lease"], ["t", "v", 1000, ""]);
            for (var c = 0; c < MostCallers; c++)
            {
                await raw.StringSetAsync(rawKeys[c], payload, Entries.TimeToLive);
                await microsoft.SetAsync(keys[c], payload, Options);
                await cache.SetAsync(keys[c], payload, Options);
            }

            Entries.Check((await cache.GetAsync(keys[^1]))?.Length == 1024, "Rc GetAsync");
            Entries.Check((await microsoft.GetAsync(keys[^1]))?.Length == 1024, "RedisCache.GetAsync");
        });

        Console.WriteLine($"// StackExchange.Redis {RedisClient.Loaded}; {callers} callers, 1 KiB, {seconds} s per contender per round, {rounds} rounds{(cluster ? ", a cluster of three primaries" : "")}");
        var results = contenders.ToDictionary(static c => c.Name, static _ => new List<Result>());
        foreach (var (name, operation) in contenders)
        {
            await MeasureAsync(operation, callers, TimeSpan.FromSeconds(1)); // warm-up
        }

        for (var round = 1; round <= rounds; round++)
        {
            foreach (var (name, operation) in contenders)
            {
                using var sampler = allocations ? new AllocationSampler() : null;
                var result = await MeasureAsync(operation, callers, TimeSpan.FromSeconds(seconds));
                results[name].Add(result);
                Console.WriteLine($"round {round} {name,-8} {result.OpsPerSecond,10:N0} ops/s {result.BytesPerOp,8:N0} B/op {result.CpuMicrosecondsPerOp,6:N2} µs CPU/op {result.WorkItemsPerOp,5:N2} work items/op {result.ContentionsPerOp,6:N4} lock contentions/op; by thread: {result.Threads}");
                sampler?.Report(result.OpsPerSecond * seconds);
            }
        }

        Console.WriteLine();
        var first = results[contenders[0].Name];
        Console.WriteLine($"| contender | ops/s (median) | B/op (median) | this process's CPU µs/op (median) | ops/s × {contenders[0].Name} (median of same-round ratios, lowest–highest) | each round's ops/s |");
        Console.WriteLine("| --- | --- | --- | --- | --- | --- |");
        foreach (var (name, runs) in results)
        {
            var ratio = CommandOptions.SameRoundRatioSpread(runs, first, static r => r.OpsPerSecond);
            Console.WriteLine($"| {name} | {CommandOptions.Median(runs.Select(static r => r.OpsPerSecond)):N0} | {CommandOptions.Median(runs.Select(static r => r.BytesPerOp)):N0} | {CommandOptions.Median(runs.Select(static r => r.CpuMicrosecondsPerOp)):N2} | {ratio} | {string.Join(", ", runs.Select(static r => r.OpsPerSecond.ToString("N0", CultureInfo.InvariantCulture)))} |");
        }

        Console.WriteLine($"// RcAspNet store errors during the run: {fixture.Failures()}");
        return 0;
    }

    /// <summary>The reply awaited by one more async method (pooled, as the library's own are).</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private static async ValueTask AwaitedAsync<T>(Task<T> reply) => await reply.ConfigureAwait(false);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private static async ValueTask RawWithDeadlineAsync<T>(Task<T> reply, CancellationToken deadline) =>
        await (reply.IsCompleted ? new ValueTask<T>(reply) : TimedReply<T>.WaitAsync(reply, deadline, CancellationToken.None));

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private static async ValueTask StoreGetAsync(IRcStore store, string namespacedKey) => await store.GetAsync(namespacedKey, CancellationToken.None);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private static async ValueTask StoreSetAsync(IRcStore store, string namespacedKey, byte[] value) => await store.SetAsync(namespacedKey, value, Entries.TimeToLive, replaces: true, CancellationToken.None);

    /// <summary>A TryGetAsync into the caller's buffer, awaited by a pooled state machine: nothing of its own is allocated per call.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private static async ValueTask TryGetAsync(IBufferDistributedCache cache, string key, ArrayBufferWriter<byte> writer)
    {
        writer.ResetWrittenCount();
        await cache.TryGetAsync(key, writer);
    }

    private static async Task<Result> MeasureAsync(Func<int, ValueTask> operation, int callers, TimeSpan duration)
    {
        long operations = 0;
        var threads = ThreadTimes();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var bytes = GC.GetTotalAllocatedBytes(precise: false);
        var workItems = ThreadPool.CompletedWorkItemCount;
        var contentions = Monitor.LockContentionCount;
        var clock = Stopwatch.StartNew();
        var running = Enumerable.Range(0, callers).Select(c => Task.Run(async () =>
        {
            long mine = 0;
            while (clock.Elapsed < duration)
            {
                await operation(c);
                mine++;
            }

            Interlocked.Add(ref operations, mine);
        })).ToArray();
        await Task.WhenAll(running);
        var elapsed = clock.Elapsed.TotalSeconds;
        var allocated = GC.GetTotalAllocatedBytes(precise: false) - bytes;
        var handOffs = (ThreadPool.CompletedWorkItemCount - workItems) / (double)operations;
        var contended = (Monitor.LockContentionCount - contentions) / (double)operations;
        var used = Process.GetCurrentProcess().TotalProcessorTime - cpu;
        // Shares of what the threads alive at the end ran meanwhile: a thread that ended took its ticks with it, so the
        // whole is the sum of these threads' own, not the difference of the two totals (which printed shares over 100 %).
        var ran = ThreadTimes().Select(t => (t.Key.Name, Ticks: t.Value - threads.GetValueOrDefault(t.Key))).Where(static t => t.Ticks > 0).ToArray();
        var total = Math.Max(1, ran.Sum(static t => t.Ticks));
        var byThread = ran.GroupBy(static t => t.Name).Select(static g => (Name: g.Key, Ticks: g.Sum(static t => t.Ticks))).OrderByDescending(static g => g.Ticks)
            .Select(g => $"{g.Name} {100.0 * g.Ticks / total:0}%");
        return new(operations / elapsed, allocated / (double)operations, used.TotalMicroseconds / operations, handOffs, contended, string.Join(", ", byThread.Take(6)));
    }

    /// <summary>CPU ticks (user + system) of each thread of this process, by id and name, from /proc (empty elsewhere).</summary>
    private static Dictionary<(int Id, string Name), long> ThreadTimes()
    {
        var times = new Dictionary<(int, string), long>();
        if (!Directory.Exists("/proc/self/task"))
        {
            return times;
        }

        foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            try
            {
                var stat = File.ReadAllText(Path.Combine(task, "stat"));
                var name = stat[(stat.IndexOf('(', StringComparison.Ordinal) + 1)..stat.LastIndexOf(')')];
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');

                // Thread pool workers and the client's pipe threads are many: one name each.
                name = name.StartsWith(".NET TP Worker", StringComparison.Ordinal) ? ".NET TP Worker" : name.TrimEnd('0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ' ');
                times[(int.Parse(Path.GetFileName(task), CultureInfo.InvariantCulture), name)] = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
            }
            catch (IOException)
            {
                // The thread ended.
            }
        }

        return times;
    }

    /// <param name="WorkItemsPerOp">Thread-pool work items run per operation: the hand-offs between threads.</param>
    /// <param name="ContentionsPerOp">Lock contentions per operation (<see cref="Monitor.LockContentionCount"/>).</param>
    private readonly record struct Result(double OpsPerSecond, double BytesPerOp, double CpuMicrosecondsPerOp, double WorkItemsPerOp, double ContentionsPerOp, string Threads);

    /// <summary>A miss that loads, by the raw client: a GET that finds nothing, then the SET of the value.</summary>
    /// <summary>What a fill lease costs the raw client: the GET, then <see cref="RedisCommands.LeaseScript"/> and <see cref="RedisCommands.FillScript"/> as the store sends them.</summary>
    private static async ValueTask RawLeaseFillAsync(IDatabase raw, string key, string value, TimeSpan timeToLive)
    {
        if ((await raw.StringGetAsync(key)).IsNull)
        {
            RedisKey[] keys = [key, FillLease.KeyOf(key)!];
            var token = (string?)await raw.ScriptEvaluateAsync(RedisCommands.LeaseScript, [keys[1]], [Guid.NewGuid().ToString("N"), 600_000]);
            await raw.ScriptEvaluateAsync(RedisCommands.FillScript, keys, [token, value, (long)timeToLive.TotalMilliseconds, ""]);
        }
    }

    private static readonly byte[] LeaseSha = System.Security.Cryptography.SHA1.HashData(System.Text.Encoding.UTF8.GetBytes(RedisCommands.LeaseScript));
    private static readonly byte[] FillSha = System.Security.Cryptography.SHA1.HashData(System.Text.Encoding.UTF8.GetBytes(RedisCommands.FillScript));

    private static async ValueTask RawLeaseFillShaAsync(IDatabase raw, string key, string value, TimeSpan timeToLive)
    {
        if ((await raw.StringGetAsync(key)).IsNull)
        {
            RedisKey[] keys = [key, FillLease.KeyOf(key)!];
            var token = (string?)await raw.ScriptEvaluateAsync(LeaseSha, [keys[1]], [Guid.NewGuid().ToString("N"), 600_000]);
            await raw.ScriptEvaluateAsync(FillSha, keys, [token, value, (long)timeToLive.TotalMilliseconds, ""]);
        }
    }

    private static async ValueTask RawSetNxGetFillAsync(IDatabase raw, string key, string value, TimeSpan timeToLive)
    {
        if ((await raw.StringGetAsync(key)).IsNull)
        {
            RedisKey[] keys = [key, FillLease.KeyOf(key)!];
            var token = Guid.NewGuid().ToString("N");
            var held = (string?)await raw.ExecuteAsync("SET", keys[1], token, "NX", "PX", 600_000, "GET") ?? token;
            await raw.ScriptEvaluateAsync(FillSha, keys, [held, value, (long)timeToLive.TotalMilliseconds, ""]);
        }
    }

    private static async ValueTask RawFillAsync(IDatabase raw, string key, string value, TimeSpan timeToLive)
    {
        if ((await raw.StringGetAsync(key)).IsNull)
        {
            await raw.StringSetAsync(key, value, timeToLive);
        }
    }
}
