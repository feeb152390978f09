using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Benchmarks.Infrastructure;
using RcAspNet.Caching;
using StackExchange.Redis;

namespace RcAspNet.Benchmarks.Batching;

/// <summary>
/// Many keys at once, every one a hit: the request-scoped batch collector (a scope, N Loads, one FlushAsync) against
/// the raw client's single MGET of the same keys on one server, and against the same N lookups made one after
/// another and all at once through the typed cache. With 3 shards the library spreads the keys over three servers,
/// while the baseline still reads them all from one. Two more raw rows show the floors of what the library must do
/// beyond one MGET: turn each value into a string (System.Text.Json), and, with 3 shards, one MGET per shard in
/// parallel. Target 3.
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

    [Params(1, 10, 100, 1000)]
    public int BatchSize { get; set; }

    [Params(1, 3)]
    public int Shards { get; set; }

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _fixture = await Fixture.StartAsync(Shards == 1 ? RcStoreKind.Redis : RcStoreKind.Sharded, Shards);
        _raw = _fixture.Raw[0];
        _keys = Enumerable.Range(0, BatchSize).Select(static i => $"item:{i}").ToArray();
        _rawKeys = _keys.Select(static k => (RedisKey)(Keys.RcNamespace + k)).ToArray();
        _rawShards = _fixture.Router is { } router
            ? _rawKeys.GroupBy(k => router.GetShard(k!)).Select(g => (_fixture.Raw[g.Key], g.ToArray())).ToArray()
            : [(_raw, _rawKeys)];

        // The library's entries, wherever its store puts them; and the same keys and bytes on the first server for the raw client.
        await _fixture.Typed.SetManyAsync(_keys.Select(static k => KeyValuePair.Create(k, Value)).ToArray());
        var bytes = new RcJsonSerializer().Serialize(Value);
        await Task.WhenAll(_rawKeys.Select(k => _raw.StringSetAsync(k, bytes, Entries.TimeToLive)));

        var expected = BatchSize * Value.Length;
        Entries.Check((await Raw_Mget()).All(static v => !v.IsNull), "raw MGET");
        Entries.Check(await Raw_MgetDeserialize() == expected, "raw MGET + deserialize");
        Entries.Check(await Raw_MgetPerShard() == BatchSize, "raw MGET per shard");
        Entries.Check(await Rc_Batch() == expected, "Rc batch");
        Entries.Check((await Rc_GetMany()).Sum(static v => v?.Length ?? 0) == expected, "Rc GetManyAsync");
        Entries.Check(await Rc_Sequential() == expected, "Rc sequential GetAsync");
        Entries.Check(await Rc_Concurrent() == expected, "Rc concurrent GetAsync");
    }

    [GlobalCleanup]
    public async Task CleanupAsync() => await _fixture.DisposeAsync();

    [Benchmark(Baseline = true, Description = "raw client: one MGET, one server")]
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

    [Benchmark(Description = "raw client: one MGET per shard, in parallel")]
    public async Task<int> Raw_MgetPerShard()
    {
        if (_rawShards.Length == 1)
        {
            return (await _raw.StringGetAsync(_rawKeys)).Length;
        }

        var replies = new Task<RedisValue[]>[_rawShards.Length];
        for (var s = 0; s < replies.Length; s++)
        {
            replies[s] = _rawShards[s].Database.StringGetAsync(_rawShards[s].Keys);
        }

        var count = 0;
        foreach (var reply in await Task.WhenAll(replies))
        {
            count += reply.Length;
        }

        return count;
    }

    [Benchmark(Description = "Rc: IRcBatch, N Load + FlushAsync (scope included)")]
    public async Task<int> Rc_Batch()
    {
        await using var scope = _fixture.Services.CreateAsyncScope();
        var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
        var promises = new RcPromise<string>[_keys.Length];
        for (var i = 0; i < promises.Length; i++)
        {
            promises[i] = batch.Load(_keys[i], Loader);
        }

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

    [Benchmark(Description = "Rc: N sequential IRcCache.GetAsync")]
    public async Task<int> Rc_Sequential()
    {
        var length = 0;
        foreach (var key in _keys)
        {
            length += (await _fixture.Typed.GetAsync<string>(key))?.Length ?? 0;
        }

        return length;
    }

    [Benchmark(Description = "Rc: N concurrent IRcCache.GetAsync")]
    public async Task<int> Rc_Concurrent()
    {
        var lookups = new Task<string?>[_keys.Length];
        for (var i = 0; i < lookups.Length; i++)
        {
            lookups[i] = _fixture.Typed.GetAsync<string>(_keys[i]).AsTask();
        }

        var length = 0;
        foreach (var value in await Task.WhenAll(lookups))
        {
            length += value?.Length ?? 0;
        }

        return length;
    }
}
