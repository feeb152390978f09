using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using RcAspNet.Benchmarks.Infrastructure;
using StackExchange.Redis;

namespace RcAspNet.Benchmarks.Single;

/// <summary>
/// One caller, one Redis server, the synchronous Get that <c>IDistributedCache</c> forces: the raw client's own
/// synchronous <c>StringGet</c> (the baseline), Microsoft's <c>RedisCache.Get</c> (the same client's synchronous HMGET)
/// and RcAspNet's <c>Get</c>, which reads on the caller's thread over a blocking RESP connection of its own instead
/// of the multiplexer. 1 KiB, absolute expiration, all hits.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory, BenchmarkLogicalGroupRule.ByParams)]
[CategoriesColumn]
public class RedisSyncGetBenchmarks
{
    private const string Key = "post:1";
    private const string RawKey = Keys.Raw + Key;

    private Fixture _fixture = null!;
    private IDatabase _raw = null!;

    [Params(1024)]
    public int Payload { get; set; }

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _fixture = await Fixture.StartAsync(RcStoreKind.Redis);
        _raw = _fixture.Raw[0];
        var payload = Entries.Payload(Payload);
        var options = Entries.Options(sliding: false);

        await _fixture.SetUpAsync(async () =>
        {
            await _raw.StringSetAsync(RawKey, payload, Entries.TimeToLive);
            await _fixture.Microsoft.SetAsync(Key, payload, options);
            await _fixture.Cache.SetAsync(Key, payload, options);
            Entries.Check(((byte[]?)Raw_Get())?.Length == Payload, "raw StringGet");
            Entries.Check(Microsoft_Get()?.Length == Payload, "RedisCache.Get");
            Entries.Check(Rc_Get()?.Length == Payload, "Rc Get");
        });
    }

    [GlobalCleanup]
    public async Task CleanupAsync() => await _fixture.DisposeAsync();

    [Benchmark(Baseline = true, Description = "raw client: StringGet (synchronous GET)")]
    [BenchmarkCategory("Sync Get")]
    public RedisValue Raw_Get() => _raw.StringGet(RawKey);

    [Benchmark(Description = "Microsoft RedisCache.Get")]
    [BenchmarkCategory("Sync Get")]
    public byte[]? Microsoft_Get() => _fixture.Microsoft.Get(Key);

    [Benchmark(Description = "Rc: IDistributedCache.Get")]
    [BenchmarkCategory("Sync Get")]
    public byte[]? Rc_Get() => _fixture.Cache.Get(Key);
}
