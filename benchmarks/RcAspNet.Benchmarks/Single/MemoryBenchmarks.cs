using System.Buffers;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using RcAspNet.Benchmarks.Infrastructure;

namespace RcAspNet.Benchmarks.Single;

/// <summary>One caller, the embedded store, against the framework's <see cref="MemoryDistributedCache"/>.</summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory, BenchmarkLogicalGroupRule.ByParams)]
[CategoriesColumn]
public class MemoryBenchmarks
{
    private const string Key = "post:1";

    private readonly ArrayBufferWriter<byte> _buffer = new(16 * 1024);
    private readonly MemoryDistributedCache _framework = new(Options.Create(new MemoryDistributedCacheOptions()));
    private Fixture _fixture = null!;
    private byte[] _payload = null!;
    private DistributedCacheEntryOptions _options = null!;

    [Params(128, 1024, 10 * 1024)]
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
            Entries.Check((await Framework_Get())?.Length == Payload, "MemoryDistributedCache.GetAsync");
            Entries.Check((await Rc_Get())?.Length == Payload, "Rc GetAsync");
            Entries.Check(await Rc_TryGet() && _buffer.WrittenCount == Payload, "Rc TryGetAsync");
        });
    }

    [GlobalCleanup]
    public async Task CleanupAsync() => await _fixture.DisposeAsync();

    [Benchmark(Baseline = true, Description = "MemoryDistributedCache.GetAsync")]
    [BenchmarkCategory("Get")]
    public Task<byte[]?> Framework_Get() => _framework.GetAsync(Key);

    [Benchmark(Description = "Rc (Memory store): IDistributedCache.GetAsync")]
    [BenchmarkCategory("Get")]
    public Task<byte[]?> Rc_Get() => _fixture.Cache.GetAsync(Key);

    [Benchmark(Description = "Rc (Memory store): IBufferDistributedCache.TryGetAsync (reused writer)")]
    [BenchmarkCategory("Get")]
    public ValueTask<bool> Rc_TryGet()
    {
        _buffer.ResetWrittenCount();
        return _fixture.Cache.TryGetAsync(Key, _buffer);
    }

    [Benchmark(Baseline = true, Description = "MemoryDistributedCache.SetAsync")]
    [BenchmarkCategory("Set")]
    public Task Framework_Set() => _framework.SetAsync(Key, _payload, _options);

    [Benchmark(Description = "Rc (Memory store): IDistributedCache.SetAsync")]
    [BenchmarkCategory("Set")]
    public Task Rc_Set() => _fixture.Cache.SetAsync(Key, _payload, _options);
}
