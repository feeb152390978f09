using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Microsoft.Extensions.Caching.Distributed;
using RcAspNet.Benchmarks.Infrastructure;
using StackExchange.Redis;

namespace RcAspNet.Benchmarks.Single;

/// <summary>
/// One caller, three Redis shards: a key lives on one shard, so the floor is the raw client's GET and SET on that
/// shard's connection. Only 1 KiB: payload size shows nothing here that the single-server group does not.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory, BenchmarkLogicalGroupRule.ByParams)]
[CategoriesColumn]
public class ShardedBenchmarks
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
        _fixture = await Fixture.StartAsync(RcStoreKind.Sharded);
        _payload = Entries.Payload(Payload);
        _options = Entries.Options(Sliding);

        await _fixture.SetUpAsync(async () =>
        {
            await Rc_Set();
            _raw = await _fixture.ServerHoldingAsync(Key);
            await Raw_Set();
            Entries.Check(((byte[]?)await Raw_Get())?.Length == Payload, "raw GET");
            Entries.Check((await Rc_Get())?.Length == Payload, "Rc GetAsync");
        });
    }

    [GlobalCleanup]
    public async Task CleanupAsync() => await _fixture.DisposeAsync();

    [Benchmark(Baseline = true, Description = "raw client: GET on the key's shard")]
    [BenchmarkCategory("Get")]
    public Task<RedisValue> Raw_Get() => _raw.StringGetAsync(RawKey);

    [Benchmark(Description = "Rc (Sharded x3): IDistributedCache.GetAsync")]
    [BenchmarkCategory("Get")]
    public Task<byte[]?> Rc_Get() => _fixture.Cache.GetAsync(Key);

    [Benchmark(Baseline = true, Description = "raw client: SET with expiry on the key's shard")]
    [BenchmarkCategory("Set")]
    public Task<bool> Raw_Set() => _raw.StringSetAsync(RawKey, _payload, Entries.TimeToLive);

    [Benchmark(Description = "Rc (Sharded x3): IDistributedCache.SetAsync")]
    [BenchmarkCategory("Set")]
    public Task Rc_Set() => _fixture.Cache.SetAsync(Key, _payload, _options);
}
