using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Microsoft.Extensions.Caching.Distributed;
using RcAspNet.Benchmarks.Infrastructure;
using StackExchange.Redis;

namespace RcAspNet.Benchmarks.Concurrent;

/// <summary>
/// 64 concurrent callers over three Redis shards, 1 KiB entries. The raw client sends each of its keys to the shard on
/// which RcAspNet stored the same key (the connection chosen once per key, at set-up). Times are per operation.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory, BenchmarkLogicalGroupRule.ByParams)]
[CategoriesColumn]
public class ConcurrentShardedBenchmarks
{
    private readonly string[] _keys = Enumerable.Range(0, Callers.Count).Select(static c => $"post:{c}").ToArray();
    private readonly RedisKey[] _rawKeys = Enumerable.Range(0, Callers.Count).Select(static c => (RedisKey)$"{Keys.Raw}post:{c}").ToArray();
    private Fixture _fixture = null!;
    private IDatabase[] _raw = null!;
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
            _raw = await Task.WhenAll(_keys.Select(_fixture.ServerHoldingAsync));
            await Raw_Set();
            Entries.Check(((byte[]?)await _raw[^1].StringGetAsync(_rawKeys[^1]))?.Length == Payload, "raw GET");
            Entries.Check((await _fixture.Cache.GetAsync(_keys[^1]))?.Length == Payload, "Rc GetAsync");
        });
    }

    [GlobalCleanup]
    public async Task CleanupAsync() => await _fixture.DisposeAsync();

    [Benchmark(Baseline = true, OperationsPerInvoke = Callers.Operations, Description = "raw client: GET on each key's shard, 64 callers")]
    [BenchmarkCategory("Get x64")]
    public Task Raw_Get() => Callers.RunAsync(c => new ValueTask(_raw[c].StringGetAsync(_rawKeys[c])));

    [Benchmark(OperationsPerInvoke = Callers.Operations, Description = "Rc (Sharded x3): GetAsync, 64 callers")]
    [BenchmarkCategory("Get x64")]
    public Task Rc_Get() => Callers.RunAsync(c => new ValueTask(_fixture.Cache.GetAsync(_keys[c])));

    [Benchmark(Baseline = true, OperationsPerInvoke = Callers.Operations, Description = "raw client: SET with expiry on each key's shard, 64 callers")]
    [BenchmarkCategory("Set x64")]
    public Task Raw_Set() => Callers.RunAsync(c => new ValueTask(_raw[c].StringSetAsync(_rawKeys[c], _payload, Entries.TimeToLive)));

    [Benchmark(OperationsPerInvoke = Callers.Operations, Description = "Rc (Sharded x3): SetAsync, 64 callers")]
    [BenchmarkCategory("Set x64")]
    public Task Rc_Set() => Callers.RunAsync(c => new ValueTask(_fixture.Cache.SetAsync(_keys[c], _payload, _options)));
}
