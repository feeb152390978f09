using System.Buffers;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using RcAspNet.Benchmarks.Infrastructure;
using StackExchange.Redis;

namespace RcAspNet.Benchmarks.Single;

/// <summary>
/// One caller, one Redis server, a 1 KiB entry with a 10-minute sliding expiration: a Get must also renew it.
/// Microsoft's RedisCache reads (HMGET) and then waits for its EXPIRE (two round trips); RcAspNet reads (GET) and sends
/// its renewal without waiting, at most once per hundredth of the window. The baseline is the raw client's plain GET,
/// which renews nothing.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory, BenchmarkLogicalGroupRule.ByParams)]
[CategoriesColumn]
public class RedisSlidingGetBenchmarks
{
    private const string Key = "post:1";
    private const string RawKey = Keys.Raw + Key;

    private readonly ArrayBufferWriter<byte> _buffer = new(16 * 1024);
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
        var options = Entries.Options(sliding: true);

        await _fixture.SetUpAsync(async () =>
        {
            await _raw.StringSetAsync(RawKey, payload, Entries.TimeToLive);
            await _fixture.Microsoft.SetAsync(Key, payload, options);
            await _fixture.Cache.SetAsync(Key, payload, options);
            Entries.Check(((byte[]?)await Raw_Get())?.Length == Payload, "raw GET");
            Entries.Check((await Microsoft_Get())?.Length == Payload, "RedisCache.GetAsync (sliding)");
            Entries.Check((await Rc_Get())?.Length == Payload, "Rc GetAsync (sliding)");
            Entries.Check(await Rc_TryGet() && _buffer.WrittenCount == Payload, "Rc TryGetAsync (sliding)");
        });
    }

    [GlobalCleanup]
    public async Task CleanupAsync() => await _fixture.DisposeAsync();

    [Benchmark(Baseline = true, Description = "raw client: StringGetAsync (GET, no renewal)")]
    [BenchmarkCategory("Sliding Get")]
    public Task<RedisValue> Raw_Get() => _raw.StringGetAsync(RawKey);

    [Benchmark(Description = "Microsoft RedisCache.GetAsync, sliding")]
    [BenchmarkCategory("Sliding Get")]
    public Task<byte[]?> Microsoft_Get() => _fixture.Microsoft.GetAsync(Key);

    [Benchmark(Description = "Rc: IDistributedCache.GetAsync, sliding")]
    [BenchmarkCategory("Sliding Get")]
    public Task<byte[]?> Rc_Get() => _fixture.Cache.GetAsync(Key);

    [Benchmark(Description = "Rc: IBufferDistributedCache.TryGetAsync, sliding (reused writer)")]
    [BenchmarkCategory("Sliding Get")]
    public ValueTask<bool> Rc_TryGet()
    {
        _buffer.ResetWrittenCount();
        return _fixture.Cache.TryGetAsync(Key, _buffer);
    }
}
