using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Microsoft.Extensions.Caching.Distributed;
using RcAspNet.Benchmarks.Infrastructure;
using StackExchange.Redis;

namespace RcAspNet.Benchmarks.Single;

/// <summary>
/// One caller, one Redis server, a 1 KiB entry living 10 minutes (absolute, or a sliding window): the raw client's
/// SET with an expiry (the floor), Microsoft's RedisCache (HSET of three fields and EXPIRE) and RcAspNet (one SET ... PX;
/// a sliding entry carries a 20-byte header).
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory, BenchmarkLogicalGroupRule.ByParams)]
[CategoriesColumn]
public class RedisSetBenchmarks
{
    private const string Key = "post:1";
    private const string RawKey = Keys.Raw + Key;

    private Fixture _fixture = null!;
    private IDatabase _raw = null!;
    private byte[] _payload = null!;
    private DistributedCacheEntryOptions _options = null!;

    [Params(1024)]
    public int Payload { get; set; }

    [Params(false, true)]
    public bool Sliding { get; set; }

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _fixture = await Fixture.StartAsync(RcStoreKind.Redis);
        _raw = _fixture.Raw[0];
        _payload = Entries.Payload(Payload);
        _options = Entries.Options(Sliding);

        await _fixture.SetUpAsync(async () =>
        {
            await Raw_Set();
            await Microsoft_Set();
            await Rc_Set();
            Entries.Check(((byte[]?)await _raw.StringGetAsync(RawKey))?.Length == Payload, "raw SET");
            Entries.Check((await _fixture.Microsoft.GetAsync(Key))?.Length == Payload, "RedisCache.SetAsync");
            Entries.Check((await _fixture.Cache.GetAsync(Key))?.Length == Payload, "Rc SetAsync");
        });
    }

    [GlobalCleanup]
    public async Task CleanupAsync() => await _fixture.DisposeAsync();

    [Benchmark(Baseline = true, Description = "raw client: StringSetAsync with expiry (SET ... PX)")]
    [BenchmarkCategory("Set")]
    public Task<bool> Raw_Set() => _raw.StringSetAsync(RawKey, _payload, Entries.TimeToLive);

    [Benchmark(Description = "Microsoft RedisCache.SetAsync")]
    [BenchmarkCategory("Set")]
    public Task Microsoft_Set() => _fixture.Microsoft.SetAsync(Key, _payload, _options);

    [Benchmark(Description = "Rc: IDistributedCache.SetAsync")]
    [BenchmarkCategory("Set")]
    public Task Rc_Set() => _fixture.Cache.SetAsync(Key, _payload, _options);
}
