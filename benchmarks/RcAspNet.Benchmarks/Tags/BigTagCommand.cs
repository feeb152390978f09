using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Tests.Infrastructure;
using StackExchange.Redis;

namespace RcAspNet.Benchmarks.Tags;

/// <summary>
/// <c>tags [--members 1000,20000,200000,1000000]</c>: what invalidating a tag of many members costs everyone else on its
/// server. For each size, on a redis-server of its own: that many entries carrying one tag, then two other clients read a
/// different key in a loop, first while nothing else happens (their worst GET idle), then while the tag is invalidated
/// (their worst GET meanwhile, the invalidation's time, and what the process allocated and collected during it). One client is a
/// second connection of the invalidating process, so it also waits for that process's garbage collections and thread
/// pool; the other is a process of its own (<see cref="ReaderProcess"/>), which waits only for the server and for this
/// machine's scheduling of the processes. The server's slow log measures what a command itself held the server for:
/// every command that executed for 1 ms or more during the invalidation (by the wall clock, so a server thread
/// descheduled meanwhile counts too; reading the command and writing its reply do not). The invalidation sends its
/// commands one at a time, so another client's command waits behind one of them at most. The other clients' own GETs
/// are left out. Runs outside BenchmarkDotNet; prints a Markdown table.
/// </summary>
internal static class BigTagCommand
{
    private const string Usage = "usage: tags [--members 1000,20000,200000,1000000]";

    public static async Task<int> RunAsync(IReadOnlyList<string> args)
    {
        int[] sizes = [1_000, 20_000, 200_000, 1_000_000];
        if (args is ["--members", var list])
        {
            sizes = [.. list.Split(',').Select(static s => int.Parse(s, CultureInfo.InvariantCulture))];
        }
        else if (args.Count > 0)
        {
            await Console.Error.WriteLineAsync(Usage);
            return 2;
        }

        Console.WriteLine($"Invalidating one tag of N members on one redis-server, two other clients (one in this process, one in another) reading another key in a loop; {Environment.ProcessorCount} cores.");
        Console.WriteLine();
        Console.WriteLine("| members | invalidation | removed | another client's worst GET, idle | its worst GET during the invalidation | its GETs during it | a client in another process: worst GET, idle | its worst during the invalidation | its GETs during it | the server's longest command during it (slow log) | commands of 1 ms or more | allocated during it | the process's collections during it (their pauses in all) |");
        Console.WriteLine("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var size in sizes)
        {
            Console.WriteLine(await MeasureAsync(size));
        }

        return 0;
    }

    private static async Task<string> MeasureAsync(int members)
    {
        await using var server = await RedisServer.StartAsync();
        var services = new ServiceCollection();
        services.AddRcCache(o =>
        {
            (o.Store, o.Redis, o.Namespace) = (RcStoreKind.Redis, server.EndPoint, "big:");
            o.OperationTimeout = TimeSpan.FromSeconds(30);
        });
        await using var provider = services.BuildServiceProvider();
        var cache = provider.GetRequiredService<IRcCache>();
        var tagged = new RcEntryOptions { Tags = ["big"], Expiration = TimeSpan.FromHours(1) };
        for (var start = 0; start < members; start += 10_000)
        {
            var batch = Enumerable.Range(start, Math.Min(10_000, members - start)).Select(static i => new KeyValuePair<string, int>($"e{i}", i)).ToArray();
            await cache.SetManyAsync(batch, tagged);
        }

        await using var other = await ConnectionMultiplexer.ConnectAsync(server.EndPoint);
        var db = other.GetDatabase();
        await db.StringSetAsync("other", "value");
        await using var reader = await ReaderProcess.StartAsync(server.EndPoint);
        var idle = await WorstGetAsync(db, Task.Delay(1000));
        var (readerIdle, _) = await reader.ReportAsync();

        await using var admin = await ConnectionMultiplexer.ConnectAsync($"{server.EndPoint},allowAdmin=true");
        var slowLog = admin.GetServer(admin.GetEndPoints()[0]);
        await slowLog.ConfigSetAsync("slowlog-log-slower-than", 1000); // µs
        await slowLog.ConfigSetAsync("slowlog-max-len", 1_000_000);
        await slowLog.SlowlogResetAsync();

        await reader.ReportAsync();
        var watch = Stopwatch.StartNew();
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var (collections, paused) = (GC.CollectionCount(0), GC.GetTotalPauseDuration());
        var invalidation = cache.InvalidateTagAsync("big").AsTask();
        var (worst, gets) = await WorstGetAsync(db, invalidation);
        var took = watch.Elapsed;
        var (readerWorst, readerGets) = await reader.ReportAsync();
        allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        (collections, paused) = (GC.CollectionCount(0) - collections, GC.GetTotalPauseDuration() - paused);
        var removed = await invalidation;
        var slow = (await slowLog.SlowlogGetAsync(1_000_000)).Where(static c => c.Arguments is not [{ } name, { } key] || (string?)name != "GET" || (string?)key != "other").ToArray();
        var longest = slow.MaxBy(static c => c.Duration);
        var held = longest is null ? "under 1 ms" : string.Create(CultureInfo.InvariantCulture, $"{longest.Duration.TotalMilliseconds:0.0} ms ({longest.Arguments[0]})");
        var slowOnes = slow.Length == 0 ? "0" : $"{slow.Length} ({string.Join(", ", slow.GroupBy(static c => c.Arguments[0].ToString()).Select(static g => $"{g.Key} {g.Count()}"))})";
        return string.Create(CultureInfo.InvariantCulture, $"| {members:N0} | {took.TotalMilliseconds:0} ms | {removed.Removed:N0} | {idle.Worst.TotalMilliseconds:0.0} ms | {worst.TotalMilliseconds:0.0} ms | {gets:N0} | {readerIdle.TotalMilliseconds:0.0} ms | {readerWorst.TotalMilliseconds:0.0} ms | {readerGets:N0} | {held} | {slowOnes} | {allocated / (1024.0 * 1024):0.0} MiB | {collections} ({paused.TotalMilliseconds:0.0} ms) |");
    }

    /// <summary>GETs of another key, one after the other, until <paramref name="until"/> completes: the slowest, and how many.</summary>
    private static async Task<(TimeSpan Worst, int Gets)> WorstGetAsync(IDatabase db, Task until)
    {
        var worst = TimeSpan.Zero;
        var gets = 0;
        do
        {
            var started = Stopwatch.GetTimestamp();
            await db.StringGetAsync("other");
            var took = Stopwatch.GetElapsedTime(started);
            worst = took > worst ? took : worst;
            gets++;
        }
        while (!until.IsCompleted);

        return (worst, gets);
    }
}
