using System.Buffers;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using RcAspNet;
using RcAspNet.SyncBurst;

// Bursts of synchronous IDistributedCache calls on a cold thread pool, in a process of its own (SyncBurstTests runs
// it): the pool starts at its default minimum, a thread per core, and is never raised. Prints one line of JSON, a
// BurstReport.
const int Count = 40;

var settings = BurstSettings.Parse(args);
var prefix = $"sb{Guid.NewGuid():N}:";
var services = new ServiceCollection();
services.AddRcCache(o =>
{
    settings.Configure(o);
    o.Namespace = prefix;
});
await using var provider = services.BuildServiceProvider();
var cache = provider.GetRequiredService<IDistributedCache>();
var buffers = provider.GetRequiredService<IBufferDistributedCache>();
var entry = new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromMinutes(10), AbsoluteExpirationRelativeToNow = TimeSpan.FromHours(1) };

// Keys on the shard the parent freezes miss by design; every other read must hit.
var router = settings.FrozenShard is not null ? new Crc32Router(settings.Shards.Select(static (_, i) => BurstSettings.ShardName(i))) : null;
bool OnFrozenShard(string key) => router is not null && router.Shards[router.GetShard(prefix + key)] == BurstSettings.ShardName(settings.FrozenShard!.Value);

// The writes an application makes before the burst, asynchronously: they connect and warm the store. A write that
// timed out while the store was still connecting is dropped (and opens its server's circuit for a moment): it is
// made again until it reads back, so that every key the bursts read is there, and the report counts the repeats.
var rewrites = 0;
for (var i = 0; i < Count; i++)
{
    foreach (var (key, value) in new[] { ($"k{i}", Value("k", i)), ($"r{i}", Value("r", i)) })
    {
        for (var attempt = 0; ; attempt++)
        {
            await cache.SetAsync(key, value, entry);
            if (Matches(await cache.GetAsync(key), value) || attempt == 20)
            {
                break;
            }

            rewrites++;
            await Task.Delay(settings.OperationTimeout);
        }
    }
}

// The first synchronous call of each kind, made here, compiles the synchronous path: the bursts measure waits, not
// the JIT compiling that path while forty threads wait for it.
for (var i = 0; i < 9; i++)
{
    var key = $"w{i}";
    cache.Set(key, Value("w", i), entry);
    _ = cache.Get(key);
    _ = buffers.TryGet(key, new ArrayBufferWriter<byte>());
    cache.Refresh(key);
    cache.Remove(key);
}

if (settings.Wait)
{
    Console.WriteLine("ready");
    Console.Out.Flush();
    _ = Console.ReadLine();
}

var mixed = Burst.Run("mixed", Count, i =>
{
    var key = $"k{i}";
    var frozen = OnFrozenShard(key);
    switch (i % 5)
    {
        case 0:
            return [Time("Get", key, frozen, () => cache.Get(key), value => Matches(value, Value("k", i)))];
        case 1:
            var writer = new ArrayBufferWriter<byte>();
            return [Time("TryGet", key, frozen, () => buffers.TryGet(key, writer), found => found && Matches(writer.WrittenSpan.ToArray(), Value("k", i)))];
        case 2:
            return [Write("Refresh", key, frozen, () => cache.Refresh(key))];
        case 3:
            var set = Write("Set", key, frozen, () => cache.Set(key, Value("n", i), entry));
            return [set, Time("Get", key, frozen, () => cache.Get(key), value => Matches(value, Value("n", i)))];
        default:
            var scratch = $"r{i}";
            return [Write("Remove", scratch, OnFrozenShard(scratch), () => cache.Remove(scratch))];
    }
});

var sets = Burst.Run("set", Count, i =>
{
    var key = $"s{i}";
    return [Write("Set", key, OnFrozenShard(key), () => cache.Set(key, Value("s", i), entry))];
});

// What the set burst wrote, read back after it (not timed): a set that was silently dropped is a miss.
var written = new List<SyncCall>();
for (var i = 0; i < Count; i++)
{
    var key = $"s{i}";
    var value = await cache.GetAsync(key);
    written.Add(new SyncCall("ReadBack", key, 0, Matches(value, Value("s", i)), null, OnFrozenShard(key)));
}

var bursts = new[] { mixed, sets };
var calls = bursts.SelectMany(static b => b.Calls).ToArray();
var misses = calls.Concat(written).Where(static c => c is { Hit: false, Frozen: false }).ToArray();
var errors = calls.Where(static c => c.Error is not null).ToArray();
ThreadPool.GetMinThreads(out var minWorkers, out _);
var report = new BurstReport(
    settings.Store,
    prefix,
    minWorkers,
    Environment.ProcessorCount,
    rewrites,
    misses.Length,
    errors.Length,
    FrozenCalls: calls.Count(static c => c.Frozen),
    FrozenHits: calls.Concat(written).Count(static c => c is { Hit: true, Frozen: true }),
    MaxMs: calls.Max(static c => c.Ms),
    [.. misses.Select(static c => $"{c.Op} {c.Key} missed ({c.Ms:0.0} ms)"), .. errors.Select(static c => $"{c.Op} {c.Key} threw {c.Error} ({c.Ms:0.0} ms)")],
    bursts);
Console.WriteLine(JsonSerializer.Serialize(report, new JsonSerializerOptions(JsonSerializerDefaults.Web)));
return 0;

static byte[] Value(string kind, int i) => Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat($"{kind}{i};", 32)));

static bool Matches(byte[]? actual, byte[] expected) => actual is not null && actual.AsSpan().SequenceEqual(expected);

// Times the call alone, from just before it to just after it; what it returned is judged afterwards.
static SyncCall Time<T>(string op, string key, bool frozen, Func<T> call, Func<T, bool?> hit)
{
    var started = Stopwatch.GetTimestamp();
    T result;
    try
    {
        result = call();
    }
    catch (Exception ex)
    {
        return new SyncCall(op, key, Stopwatch.GetElapsedTime(started).TotalMilliseconds, null, Describe(ex), frozen);
    }

    var ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
    return new SyncCall(op, key, ms, hit(result), null, frozen);
}

static SyncCall Write(string op, string key, bool frozen, Action call) => Time(op, key, frozen, () =>
{
    call();
    return true;
}, static _ => null);

static string Describe(Exception ex)
{
    var text = $"{ex.GetType().Name}: {ex.Message}";
    return ex.InnerException is { } inner ? $"{text} <- {Describe(inner)}" : text;
}
