using System.Buffers;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Microsoft.Extensions.Caching.Distributed;
using RcAspNet.Benchmarks.Baselines;
using RcAspNet.Benchmarks.Infrastructure;
using StackExchange.Redis;

namespace RcAspNet.Benchmarks.Single;

/// <summary>
/// One caller, one Redis server: a Get and a Set of one entry, against the raw client (the floor: GET, and SET with
/// an expiry) and the re-created RedisCache pattern. Targets 1, 2 and 6.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class RedisBenchmarks
{
    private const string Key = "post:1";
    private const string RawKey = Keys.Raw + Key;

    private readonly ArrayBufferWriter<byte> _buffer = new(16 * 1024);
    private Fixture _fixture = null!;
    private IDatabase _raw = null!;
    private RedisCachePattern _pattern = null!;
    private byte[] _payload = null!;
    private DistributedCacheEntryOptions _options = null!;

    [Params(128, 1024, 10 * 1024)]
    public int Payload { get; set; }

    [Params(false, true)]
    public bool Sliding { get; set; }

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _fixture = await Fixture.StartAsync(RcStoreKind.Redis);
        _raw = _fixture.Raw[0];
        _pattern = new RedisCachePattern(_raw, Keys.Pattern, TimeProvider.System);
        _payload = Entries.Payload(Payload);
        _options = Entries.Options(Sliding);

        await Raw_Set();
        await Pattern_Set();
        await Rc_Set();
        Entries.Check(((byte[]?)await Raw_Get())?.Length == Payload, "raw GET");
        Entries.Check((await Pattern_Get())?.Length == Payload, "RedisCache pattern Get");
        Entries.Check((await Rc_Get())?.Length == Payload, "Rc GetAsync");
        Entries.Check(await Rc_TryGet() && _buffer.WrittenCount == Payload, "Rc TryGetAsync");
    }

    [GlobalCleanup]
    public async Task CleanupAsync() => await _fixture.DisposeAsync();

    [Benchmark(Baseline = true, Description = "raw client: GET")]
    [BenchmarkCategory("Get")]
    public Task<RedisValue> Raw_Get() => _raw.StringGetAsync(RawKey);

    [Benchmark(Description = "RedisCache pattern (re-created): HMGET (+ awaited EXPIRE if sliding)")]
    [BenchmarkCategory("Get")]
    public Task<byte[]?> Pattern_Get() => _pattern.GetAsync(Key);

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

    [Benchmark(Baseline = true, Description = "raw client: SET with expiry")]
    [BenchmarkCategory("Set")]
    public Task<bool> Raw_Set() => _raw.StringSetAsync(RawKey, _payload, Entries.TimeToLive);

    [Benchmark(Description = "RedisCache pattern (re-created): HSET + EXPIRE, pipelined")]
    [BenchmarkCategory("Set")]
    public Task Pattern_Set() => _pattern.SetAsync(Key, _payload, _options);

    [Benchmark(Description = "Rc: IDistributedCache.SetAsync")]
    [BenchmarkCategory("Set")]
    public Task Rc_Set() => _fixture.Cache.SetAsync(Key, _payload, _options);
}
