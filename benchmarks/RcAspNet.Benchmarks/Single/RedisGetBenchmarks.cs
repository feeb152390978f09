using System.Buffers;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Microsoft.Extensions.Caching.Distributed;
using RcAspNet.Benchmarks.Infrastructure;
using StackExchange.Redis;

namespace RcAspNet.Benchmarks.Single;

/// <summary>
/// One caller, one Redis server, an entry with an absolute expiration: a Get by the raw client (GET, the floor),
/// Microsoft's RedisCache (HMGET of its three hash fields) and RcAspNet (GET), all hits, on the same server.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory, BenchmarkLogicalGroupRule.ByParams)]
[CategoriesColumn]
public class RedisGetBenchmarks
{
    private const string Key = "post:1";
    private const string RawKey = Keys.Raw + Key;

    private readonly ArrayBufferWriter<byte> _buffer = new(16 * 1024);
    private Fixture _fixture = null!;
    private IDatabase _raw = null!;
    private IDistributedCache _microsoft = null!;

    [Params(128, 1024, 10 * 1024)]
    public int Payload { get; set; }

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _fixture = await Fixture.StartAsync(RcStoreKind.Redis);
        _raw = _fixture.Raw[0];
        _microsoft = _fixture.Microsoft;
        var payload = Entries.Payload(Payload);
        var options = Entries.Options(sliding: false);

        await _fixture.SetUpAsync(async () =>
        {
            await _raw.StringSetAsync(RawKey, payload, Entries.TimeToLive);
            await _microsoft.SetAsync(Key, payload, options);
            await _fixture.Cache.SetAsync(Key, payload, options);
            Entries.Check(((byte[]?)await Raw_Get())?.Length == Payload, "raw GET");
            Entries.Check((await Microsoft_Get())?.Length == Payload, "RedisCache.GetAsync");
            Entries.Check((await Rc_Get())?.Length == Payload, "Rc GetAsync");
            Entries.Check(await Rc_TryGet() && _buffer.WrittenCount == Payload, "Rc TryGetAsync");
        });
    }

    [GlobalCleanup]
    public async Task CleanupAsync() => await _fixture.DisposeAsync();

    [Benchmark(Baseline = true, Description = "raw client: StringGetAsync (GET)")]
    [BenchmarkCategory("Get")]
    public Task<RedisValue> Raw_Get() => _raw.StringGetAsync(RawKey);

    [Benchmark(Description = "Microsoft RedisCache.GetAsync")]
    [BenchmarkCategory("Get")]
    public Task<byte[]?> Microsoft_Get() => _microsoft.GetAsync(Key);

    [Benchmark(Description = "Rc: IDistributedCache.GetAsync")]
    [BenchmarkCategory("Get")]
    public Task<byte[]?> Rc_Get() => _fixture.Cache.GetAsync(Key);

    [Benchmark(Description = "Rc: IBufferDistributedCache.TryGetAsync (reused writer)")]
    [BenchmarkCategory("Get")]
    public ValueTask<bool> Rc_TryGet()
    {
        _buffer.ResetWrittenCount();
        return _fixture.Cache.TryGetAsync(Key, _buffer);
    }
}
