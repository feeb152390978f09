using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Microsoft.Extensions.Caching.Distributed;
using RcAspNet.Benchmarks.Infrastructure;
using StackExchange.Redis;

namespace RcAspNet.Benchmarks.Concurrent;

/// <summary>
/// 64 concurrent callers on one Redis server, each on a key of its own, 1 KiB entries: the raw client, Microsoft's
/// RedisCache and RcAspNet. Times are per operation (<see cref="Callers.Operations"/> per invocation): throughput
/// relative to the raw client is 1 / Ratio.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory, BenchmarkLogicalGroupRule.ByParams)]
[CategoriesColumn]
public class ConcurrentRedisBenchmarks
{
    private readonly string[] _keys = Enumerable.Range(0, Callers.Count).Select(static c => $"post:{c}").ToArray();
    private readonly RedisKey[] _rawKeys = Enumerable.Range(0, Callers.Count).Select(static c => (RedisKey)$"{Keys.Raw}post:{c}").ToArray();
    private Fixture _fixture = null!;
    private IDatabase _raw = null!;
    private IDistributedCache _microsoft = null!;
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
        _microsoft = _fixture.Microsoft;
        _payload = Entries.Payload(Payload);
        _options = Entries.Options(Sliding);

        await _fixture.SetUpAsync(async () =>
        {
            await Raw_Set();
            await Microsoft_Set();
            await Rc_Set();
            Entries.Check(((byte[]?)await _raw.StringGetAsync(_rawKeys[^1]))?.Length == Payload, "raw GET");
            Entries.Check((await _microsoft.GetAsync(_keys[^1]))?.Length == Payload, "RedisCache.GetAsync");
            Entries.Check((await _fixture.Cache.GetAsync(_keys[^1]))?.Length == Payload, "Rc GetAsync");
        });
    }

    [GlobalCleanup]
    public async Task CleanupAsync() => await _fixture.DisposeAsync();

    [Benchmark(Baseline = true, OperationsPerInvoke = Callers.Operations, Description = "raw client: GET, 64 callers")]
    [BenchmarkCategory("Get x64")]
    public Task Raw_Get() => Callers.RunAsync(c => new ValueTask(_raw.StringGetAsync(_rawKeys[c])));

    [Benchmark(OperationsPerInvoke = Callers.Operations, Description = "Microsoft RedisCache.GetAsync, 64 callers")]
    [BenchmarkCategory("Get x64")]
    public Task Microsoft_Get() => Callers.RunAsync(c => new ValueTask(_microsoft.GetAsync(_keys[c])));

    [Benchmark(OperationsPerInvoke = Callers.Operations, Description = "Rc: GetAsync, 64 callers")]
    [BenchmarkCategory("Get x64")]
    public Task Rc_Get() => Callers.RunAsync(c => new ValueTask(_fixture.Cache.GetAsync(_keys[c])));

    [Benchmark(Baseline = true, OperationsPerInvoke = Callers.Operations, Description = "raw client: SET with expiry, 64 callers")]
    [BenchmarkCategory("Set x64")]
    public Task Raw_Set() => Callers.RunAsync(c => new ValueTask(_raw.StringSetAsync(_rawKeys[c], _payload, Entries.TimeToLive)));

    [Benchmark(OperationsPerInvoke = Callers.Operations, Description = "Microsoft RedisCache.SetAsync, 64 callers")]
    [BenchmarkCategory("Set x64")]
    public Task Microsoft_Set() => Callers.RunAsync(c => new ValueTask(_microsoft.SetAsync(_keys[c], _payload, _options)));

    [Benchmark(OperationsPerInvoke = Callers.Operations, Description = "Rc: SetAsync, 64 callers")]
    [BenchmarkCategory("Set x64")]
    public Task Rc_Set() => Callers.RunAsync(c => new ValueTask(_fixture.Cache.SetAsync(_keys[c], _payload, _options)));
}
