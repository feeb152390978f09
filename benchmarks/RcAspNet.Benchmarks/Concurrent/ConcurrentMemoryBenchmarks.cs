using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using RcAspNet.Benchmarks.Infrastructure;

namespace RcAspNet.Benchmarks.Concurrent;

/// <summary>64 concurrent callers on the embedded store, against <see cref="MemoryDistributedCache"/>. Times are per operation.</summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory, BenchmarkLogicalGroupRule.ByParams)]
[CategoriesColumn]
public class ConcurrentMemoryBenchmarks
{
    private readonly string[] _keys = Enumerable.Range(0, Callers.Count).Select(static c => $"post:{c}").ToArray();
    private readonly MemoryDistributedCache _framework = new(Options.Create(new MemoryDistributedCacheOptions()));
    private Fixture _fixture = null!;
    private byte[] _payload = null!;
    private DistributedCacheEntryOptions _options = null!;

    [Params(1024)]
    public int Payload { get; set; }

    [Params(false, true)]
    public bool Sliding { get; set; }

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _fixture = await Fixture.StartAsync(RcStoreKind.Memory);
        _payload = Entries.Payload(Payload);
        _options = Entries.Options(Sliding);

        await _fixture.SetUpAsync(async () =>
        {
            await Framework_Set();
            await Rc_Set();
            Entries.Check((await _framework.GetAsync(_keys[^1]))?.Length == Payload, "MemoryDistributedCache.GetAsync");
            Entries.Check((await _fixture.Cache.GetAsync(_keys[^1]))?.Length == Payload, "Rc GetAsync");
        });
    }

    [GlobalCleanup]
    public async Task CleanupAsync() => await _fixture.DisposeAsync();

    [Benchmark(Baseline = true, OperationsPerInvoke = Callers.Operations, Description = "MemoryDistributedCache.GetAsync, 64 callers")]
    [BenchmarkCategory("Get x64")]
    public Task Framework_Get() => Callers.RunAsync(c => new ValueTask(_framework.GetAsync(_keys[c])));

    [Benchmark(OperationsPerInvoke = Callers.Operations, Description = "Rc (Memory store): GetAsync, 64 callers")]
    [BenchmarkCategory("Get x64")]
    public Task Rc_Get() => Callers.RunAsync(c => new ValueTask(_fixture.Cache.GetAsync(_keys[c])));

    [Benchmark(Baseline = true, OperationsPerInvoke = Callers.Operations, Description = "MemoryDistributedCache.SetAsync, 64 callers")]
    [BenchmarkCategory("Set x64")]
    public Task Framework_Set() => Callers.RunAsync(c => new ValueTask(_framework.SetAsync(_keys[c], _payload, _options)));

    [Benchmark(OperationsPerInvoke = Callers.Operations, Description = "Rc (Memory store): SetAsync, 64 callers")]
    [BenchmarkCategory("Set x64")]
    public Task Rc_Set() => Callers.RunAsync(c => new ValueTask(_fixture.Cache.SetAsync(_keys[c], _payload, _options)));
}
