using System.Diagnostics;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Benchmarks.Infrastructure;
using StackExchange.Redis;

namespace RcAspNet.Benchmarks.Batching;

/// <summary>
/// 100 keys at once, every one a hit, values of about 100 bytes of JSON, on one Redis (Store=Redis) and on three shards
/// (Store=Sharded). The baseline is the floor of the work a typed batch does: the raw client's MGET per shard, in
/// parallel, of the keys the library put on that shard, and System.Text.Json deserialization of each value. Against it:
/// the request-scoped <see cref="IRcBatch"/> (a DI scope per operation, 100 Loads, one FlushAsync),
/// <see cref="IRcCache.GetManyAsync"/>, and the same 100 lookups made one after another. The other rows are the raw
/// parts: one MGET of every key on one server, with and without deserialization, and the per-shard MGETs alone.
/// </summary>
[MemoryDiagnoser]
public class BatchBenchmarks
{
    /// <summary>A cached value of about 100 bytes of JSON, as a small post view is.</summary>
    private static readonly string Value = string.Concat(Enumerable.Repeat("The quick brown fox jumps over the lazy dog. ", 3))[..98];

    private static readonly Func<CancellationToken, ValueTask<string>> Loader =
        static _ => ValueTask.FromException<string>(new InvalidOperationException("A benchmark entry was missing: every lookup must be a hit."));

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private Fixture _fixture = null!;
    private IDatabase _raw = null!;
    private string[] _keys = null!;
    private RedisKey[] _rawKeys = null!;
    private (IDatabase Database, RedisKey[] Keys)[] _rawShards = null!;

    [Params(100)]
    public int BatchSize { get; set; }

    [Params(1, 3)]
    public int Shards { get; set; }

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _fixture = await Fixture.StartAsync(Shards == 1 ? RcStoreKind.Redis : RcStoreKind.Sharded, Shards);
        _raw = _fixture.Raw[0];
        _keys = Enumerable.Range(0, BatchSize).Select(static i => $"item:{i}").ToArray();
        _rawKeys = _keys.Select(static k => (RedisKey)(Keys.Raw + k)).ToArray();

        // The library's entries, wherever its store puts them; the same bytes under the raw keys, on the first server
        // for the one-server MGET and on the key's shard for the per-shard MGETs.
        await _fixture.SetUpAsync(async () =>
        {
            await _fixture.Typed.SetManyAsync(_keys.Select(static k => KeyValuePair.Create(k, Value)).ToArray());
            var holders = await Task.WhenAll(_keys.Select(_fixture.ServerHoldingAsync));
            _rawShards = holders.Select((database, i) => (Database: database, Key: _rawKeys[i]))
                .GroupBy(static e => e.Database)
                .Select(static g => (g.Key, g.Select(static e => e.Key).ToArray()))
                .ToArray();
            var bytes = JsonSerializer.SerializeToUtf8Bytes(Value, Json);
            await Task.WhenAll(_rawKeys.Select(k => _raw.StringSetAsync(k, bytes, Entries.TimeToLive)));
            await Task.WhenAll(_rawShards.SelectMany(s => s.Keys.Select(k => s.Database.StringSetAsync(k, bytes, Entries.TimeToLive))));

            var expected = BatchSize * Value.Length;
            Entries.Check((await Raw_Mget()).All(static v => !v.IsNull), "raw MGET");
            Entries.Check(await Raw_MgetDeserialize() == expected, "raw MGET + deserialize");
            Entries.Check(await Raw_MgetPerShard() == BatchSize, "raw MGET per shard");
            Entries.Check(await Raw_MgetPerShardDeserialize() == expected, "raw MGET per shard + deserialize");
            Entries.Check(await Rc_Batch() == expected, "Rc batch");
            Entries.Check((await Rc_GetMany()).Sum(static v => v?.Length ?? 0) == expected, "Rc GetManyAsync");
            Entries.Check(await Rc_Sequential() == expected, "Rc sequential GetAsync");
        });
    }

    /// <summary>The fixture and the keys, for <see cref="BatchLoopCommand"/>'s diagnosis rows.</summary>
    internal (Fixture Fixture, string[] Keys) State => (_fixture, _keys);

    [GlobalCleanup]
    public async Task CleanupAsync() => await _fixture.DisposeAsync();

    [Benchmark(Description = "raw client: one MGET, one server")]
    public Task<RedisValue[]> Raw_Mget() => _raw.StringGetAsync(_rawKeys);

    [Benchmark(Description = "raw client: one MGET, one server, + deserialize each value")]
    public async Task<int> Raw_MgetDeserialize()
    {
        var length = 0;
        foreach (var value in await _raw.StringGetAsync(_rawKeys))
        {
            length += JsonSerializer.Deserialize<string>((byte[])value!, Json)!.Length;
        }

        return length;
    }

    [Benchmark(Baseline = true, Description = "floor: one MGET per shard, in parallel, + deserialize each value")]
    public async Task<int> Raw_MgetPerShardDeserialize()
    {
        var length = 0;
        foreach (var reply in await MgetPerShardAsync())
        {
            foreach (var value in reply)
            {
                length += JsonSerializer.Deserialize<string>((byte[])value!, Json)!.Length;
            }
        }

        return length;
    }

    [Benchmark(Description = "raw client: one MGET per shard, in parallel")]
    public async Task<int> Raw_MgetPerShard()
    {
        var count = 0;
        foreach (var reply in await MgetPerShardAsync())
        {
            count += reply.Length;
        }

        return count;
    }

    [Benchmark(Description = "Rc: IRcBatch, 100 Load + FlushAsync (DI scope included)")]
    public async Task<int> Rc_Batch()
    {
        await using var scope = _fixture.Services.CreateAsyncScope();
        return await LoadAndFlushAsync(scope.ServiceProvider.GetRequiredService<IRcBatch>());
    }

    /// <summary>
    /// What <see cref="Rc_Batch"/> does in its scope: 100 Loads and one FlushAsync of a batch it is given; the Loads
    /// alone are timed by <paramref name="loads"/> when one is given.
    /// </summary>
    internal async Task<int> LoadAndFlushAsync(IRcBatch batch, Stopwatch? loads = null)
    {
        var promises = new RcPromise<string>[_keys.Length];
        loads?.Start();
        for (var i = 0; i < promises.Length; i++)
        {
            promises[i] = batch.Load(_keys[i], Loader);
        }

        loads?.Stop();
        await batch.FlushAsync();
        var length = 0;
        foreach (var promise in promises)
        {
            length += promise.Value.Length;
        }

        return length;
    }

    [Benchmark(Description = "Rc: IRcCache.GetManyAsync")]
    public ValueTask<IReadOnlyList<string?>> Rc_GetMany() => _fixture.Typed.GetManyAsync<string>(_keys);

    [Benchmark(Description = "Rc: 100 sequential IRcCache.GetAsync")]
    public async Task<int> Rc_Sequential()
    {
        var length = 0;
        foreach (var key in _keys)
        {
            length += (await _fixture.Typed.GetAsync<string>(key))?.Length ?? 0;
        }

        return length;
    }

    /// <summary>One raw MGET per shard, of the keys the library put on it, all in flight at once.</summary>
    private Task<RedisValue[][]> MgetPerShardAsync()
    {
        var replies = new Task<RedisValue[]>[_rawShards.Length];
        for (var s = 0; s < replies.Length; s++)
        {
            replies[s] = _rawShards[s].Database.StringGetAsync(_rawShards[s].Keys);
        }

        return Task.WhenAll(replies);
    }
}
