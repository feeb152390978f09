using System.Globalization;
using System.Reflection;
using System.Text;
using RcAspNet.Benchmarks.Infrastructure;
using RcAspNet.Tests.Infrastructure;
using ZiggyCreatures.Caching.Fusion;

namespace RcAspNet.Benchmarks.Loading;

/// <summary>
/// <c>loading [--seconds 15] [--misses 1000] [--stampedes 20] [--output docs/results/loading.md]</c>: what
/// <see cref="IRcCache.GetOrSetAsync"/>'s loading settings buy and cost, on a redis-server of its own: eager refresh of a
/// hot key under concurrent readers (against FusionCache's), the Redis commands and time a miss pays for
/// <see cref="RcStampedeProtection.Fleet"/>, and how many factory runs a stampede across three nodes causes. Runs
/// outside BenchmarkDotNet; prints a Markdown document, and writes it to <c>--output</c> when given; exits with 1 if
/// any store operation failed (a failure degrades to a miss, so its row would not measure what it says).
/// </summary>
internal static class LoadingCommand
{
    public const string Command = "dotnet run -c Release --project benchmarks/RcAspNet.Benchmarks -- loading";

    private const string Usage = "usage: loading [--seconds 15] [--misses 1000] [--stampedes 20] [--output FILE]";

    public static async Task<int> RunAsync(IReadOnlyList<string> args)
    {
        var (seconds, misses, stampedes) = (15, 1000, 20);
        string? output = null;
        for (var i = 0; i < args.Count; i += 2)
        {
            var value = i + 1 < args.Count ? args[i + 1] : "";
            var number = int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : 0;
            switch (args[i])
            {
                case "--seconds" when number > 0:
                    seconds = number;
                    break;
                case "--misses" when number > 0:
                    misses = number;
                    break;
                case "--stampedes" when number > 0:
                    stampedes = number;
                    break;
                case "--output" when value.Length > 0:
                    output = value;
                    break;
                default:
                    await Console.Error.WriteLineAsync(Usage);
                    return 2;
            }
        }

        await using var server = await RedisServer.StartAsync();
        using var counters = new RcCounters();
        var document = new StringBuilder();
        void Write(string line = "")
        {
            Console.WriteLine(line);
            document.Append(line).Append('\n');
        }

        Write("# Loading: eager refresh and fleet stampede protection");
        Write();
        var redisVersion = await RedisVersionAsync(server);
        Write(string.Create(
            CultureInfo.InvariantCulture,
            $"`{Command}{(args.Count > 0 ? " " + string.Join(' ', args) : "")}`, Release build, {DateTime.UtcNow:yyyy-MM-dd}, {Environment.ProcessorCount}-core VM, .NET {Environment.Version}, StackExchange.Redis {RedisClient.Loaded}, FusionCache {InformationalVersion(typeof(FusionCache).Assembly)}, one redis-server {redisVersion} on a loopback port."));
        Write();

        var eager = new EagerRefreshMeasurement(server, counters, TimeSpan.FromSeconds(seconds));
        Write("## Eager refresh under load");
        Write();
        Write(string.Create(
            CultureInfo.InvariantCulture,
            $"One hot key, a factory of {EagerRefreshMeasurement.FactoryTime.TotalMilliseconds:0} ms, a lifetime of {EagerRefreshMeasurement.Lifetime.TotalSeconds:0} s; {EagerRefreshMeasurement.Readers} readers call `GetOrSetAsync` in a loop for {seconds} s, each awaiting `Task.Delay(1)` between reads. Latency is each reader's call; factory runs are those started while the readers ran (the first load is made before). RcAspNet with the near cache off reads Redis on every call; with it on, and FusionCache, reads are answered from memory until the entry expires or changes."));
        Write();
        Write(EagerRefreshMeasurement.Header);
        foreach (var nearCache in (bool[])[false, true])
        {
            foreach (var on in (bool[])[false, true])
            {
                Write(await eager.RunRcAsync(nearCache, on));
            }
        }

        foreach (var on in (bool[])[false, true])
        {
            Write(await eager.RunFusionCacheAsync(on));
        }

        Write();
        Write("## What Fleet adds to a miss");
        Write();
        Write(string.Create(
            CultureInfo.InvariantCulture,
            $"{misses:N0} distinct keys, each missed once, one after the other, by one node (near cache off); the factory returns at once. Redis commands from INFO commandstats, reset after {FleetMissMeasurement.WarmUpMisses} warm-up misses (which connect and load the scripts). Redis counts the commands a script runs inside it too: the `get` and `del` of the unlock script (compare and delete) are among them, beside its `evalsha`."));
        Write();
        Write(FleetMissMeasurement.Header);
        var miss = new FleetMissMeasurement(server, counters, misses);
        foreach (var protection in (RcStampedeProtection[])[RcStampedeProtection.Process, RcStampedeProtection.Fleet])
        {
            Write(await miss.RunAsync(protection));
        }

        Write();
        Write("## A stampede across three nodes");
        Write();
        Write(string.Create(
            CultureInfo.InvariantCulture,
            $"{FleetStampedeMeasurement.Nodes} nodes (service providers of their own, one namespace, one redis-server) × {FleetStampedeMeasurement.CallersPerNode} concurrent callers miss one key whose factory takes {FleetStampedeMeasurement.FactoryTime.TotalMilliseconds:0} ms; repeated for {stampedes} keys. Redis commands from INFO commandstats over the row. Every caller reads the key once; the callers of a node that miss it share one load (single flight), so one load per node tries the lock and, with `Fleet`, polls while another node's factory runs; a node with the near cache reads a value it does not hold with `GET` and `PTTL`."));
        Write();
        Write(FleetStampedeMeasurement.Header);
        var stampede = new FleetStampedeMeasurement(server, counters, stampedes);
        Write(await stampede.RunAsync(RcStampedeProtection.Process, nearCache: false));
        Write(await stampede.RunAsync(RcStampedeProtection.Fleet, nearCache: false));
        Write(await stampede.RunAsync(RcStampedeProtection.Fleet, nearCache: true));

        if (output is not null)
        {
            await File.WriteAllTextAsync(output, document.ToString());
        }

        return counters.StoreErrors > 0 ? 1 : 0;
    }

    private static async Task<string> RedisVersionAsync(RedisServer server)
    {
        var info = await server.CommandAsync("INFO", "server");
        var line = info.Split('\n').FirstOrDefault(static l => l.StartsWith("redis_version:", StringComparison.Ordinal));
        return line is null ? "unknown" : line["redis_version:".Length..].Trim();
    }

    private static string InformationalVersion(Assembly assembly)
    {
        var version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? assembly.GetName().Version?.ToString() ?? "unknown";
        var commit = version.IndexOf('+', StringComparison.Ordinal);
        return commit < 0 ? version : version[..commit];
    }
}
