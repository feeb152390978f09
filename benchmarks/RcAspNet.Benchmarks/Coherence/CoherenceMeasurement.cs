using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Caching.Distributed;

namespace RcAspNet.Benchmarks.Coherence;

/// <summary>
/// The writes of one store with the near cache on or off: two app nodes, A and B, share 50 keys; first A writes through
/// its <see cref="IDistributedCache"/> and B observes, then a foreign client (the raw StackExchange.Redis client, a plain
/// SET of the namespaced key, which the library reads as it is) writes and A and B observe: with a TTL, as rc's Python
/// code writes (SETEX), then without one, as redis-cli's SET does. Writes go round the keys in turn. Before a writer's
/// first write the observers read every key until their near caches answer them all; before each write every observer
/// reads the key once (its copy is warm, and must hold the key's latest value); after the write's reply one loop reads
/// the key on each observer in turn, without pause, until each returns the new value (the latency is from the reply to
/// that read's return), then reads it <see cref="ReadsAfterNew"/> more times.
/// </summary>
internal sealed class CoherenceMeasurement
{
    private const int KeyCount = 50;
    private const int ReadsAfterNew = 5;
    private static readonly TimeSpan GiveUp = TimeSpan.FromSeconds(5);

    private readonly CoherenceStore _store;
    private readonly bool _nearCache;
    private readonly int _writes;
    private readonly string[] _keys = [.. Enumerable.Range(0, KeyCount).Select(static i => string.Create(CultureInfo.InvariantCulture, $"key{i:00}"))];
    private readonly byte[][] _latest = new byte[KeyCount][];

    public CoherenceMeasurement(CoherenceStore store, bool nearCache, int writes) => (_store, _nearCache, _writes) = (store, nearCache, writes);

    public async Task<CoherenceRow[]> RunAsync()
    {
        await using var a = new AppNode(_store.Configure, _nearCache);
        await using var b = new AppNode(_store.Configure, _nearCache);
        for (var k = 0; k < KeyCount; k++)
        {
            _latest[k] = "seed"u8.ToArray();
            await a.Cache.SetAsync(_keys[k], _latest[k], new DistributedCacheEntryOptions());
        }

        var owners = await _store.OwnersAsync([.. _keys.Select(static k => CoherenceCommand.Namespace + k)]);
        return
        [
            await MeasureAsync("node A", [b], (k, value) => a.Cache.SetAsync(_keys[k], value, new DistributedCacheEntryOptions())),
            await MeasureAsync("foreign SET EX", [a, b], (k, value) => owners[k].StringSetAsync(CoherenceCommand.Namespace + _keys[k], value, TimeSpan.FromDays(1))),
            await MeasureAsync("foreign SET, no TTL", [a, b], (k, value) => owners[k].StringSetAsync(CoherenceCommand.Namespace + _keys[k], value)),
        ];
    }

    private async Task<CoherenceRow> MeasureAsync(string writer, AppNode[] observers, Func<int, byte[], Task> write)
    {
        var latencies = new List<double>(_writes * observers.Length);
        var (reads, misses, stale, warm, unseen) = (0L, 0, 0, 0, 0);
        var seenAt = new long[observers.Length];
        if (_nearCache)
        {
            foreach (var observer in observers)
            {
                await observer.WarmAsync(_keys);
            }
        }

        var nearHitsBefore = observers.Sum(static o => o.NearHits);
        var getsBefore = await _store.GetCallsAsync();

        for (var i = 0; i < _writes; i++)
        {
            var k = i % KeyCount;
            foreach (var observer in observers)
            {
                var hits = observer.NearHits;
                Check(await ReadAsync(observer, k), _latest[k]);
                warm += observer.NearHits > hits ? 1 : 0;
            }

            var value = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{writer} #{i}"));
            await write(k, value);
            var replied = Stopwatch.GetTimestamp();
            _latest[k] = value;

            Array.Clear(seenAt);
            for (var pending = observers.Length; pending > 0 && Stopwatch.GetElapsedTime(replied) < GiveUp;)
            {
                for (var j = 0; j < observers.Length; j++)
                {
                    if (seenAt[j] == 0 && Same(await ReadAsync(observers[j], k), value))
                    {
                        seenAt[j] = Stopwatch.GetTimestamp();
                        pending--;
                    }
                }
            }

            for (var j = 0; j < observers.Length; j++)
            {
                if (seenAt[j] == 0)
                {
                    unseen++;
                    continue;
                }

                latencies.Add(Math.Max(0, Stopwatch.GetElapsedTime(replied, seenAt[j]).TotalMilliseconds));
                for (var r = 0; r < ReadsAfterNew; r++)
                {
                    Check(await ReadAsync(observers[j], k), value);
                }
            }
        }

        return new CoherenceRow(
            _store.Name, _nearCache, writer, _writes, [.. latencies.Order()], unseen, reads,
            observers.Sum(static o => o.NearHits) - nearHitsBefore, await _store.GetCallsAsync() - getsBefore,
            warm, _writes * observers.Length, misses, stale);

        async Task<byte[]?> ReadAsync(AppNode node, int k)
        {
            reads++;
            var read = await node.Cache.GetAsync(_keys[k]);
            misses += read is null ? 1 : 0;
            return read;
        }

        // A value, but not the latest: an older one came back after the node had seen (or written) a newer one.
        void Check(byte[]? read, byte[] latest) => stale += read is not null && !Same(read, latest) ? 1 : 0;
    }

    private static bool Same(byte[]? read, byte[] value) => read is not null && read.AsSpan().SequenceEqual(value);
}
