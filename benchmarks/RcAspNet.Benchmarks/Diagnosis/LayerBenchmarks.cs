using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Benchmarks.Infrastructure;
using RcAspNet.Caching;
using RcAspNet.Stores;
using RcAspNet.Stores.Redis;
using StackExchange.Redis;

namespace RcAspNet.Benchmarks.Diagnosis;

/// <summary>
/// Diagnosis, not a comparison: where an RcAspNet Get's time and allocations go, layer by layer, on one Redis server
/// with 1 KiB entries, by one caller and by 64. The raw client's GET; the same GET bounded the way the store bounds every
/// operation (awaited directly when the reply is already there, else through <c>TimedReply</c> on a shared deadline
/// token); the store alone; and the whole <c>IDistributedCache.GetAsync</c> (namespace, envelope, sliding renewal).
/// This is the only group that touches the library's internal types (the store, through <c>CacheRegistry.Stores</c>):
/// when those change, only this file has to follow.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory, BenchmarkLogicalGroupRule.ByParams)]
[CategoriesColumn]
public class LayerBenchmarks
{
    private readonly string[] _keys = Enumerable.Range(0, Callers.Count).Select(static c => $"post:{c}").ToArray();
    private readonly string[] _namespacedKeys = Enumerable.Range(0, Callers.Count).Select(static c => $"{Keys.RcNamespace}post:{c}").ToArray();
    private readonly RedisKey[] _rcKeys = Enumerable.Range(0, Callers.Count).Select(static c => (RedisKey)$"{Keys.RcNamespace}post:{c}").ToArray();
    private readonly CancellationTokenSource _deadline = new(TimeSpan.FromHours(1));
    private Fixture _fixture = null!;
    private IDatabase _raw = null!;
    private IRcStore _store = null!;

    [Params(1024)]
    public int Payload { get; set; }

    [Params(false, true)]
    public bool Sliding { get; set; }

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _fixture = await Fixture.StartAsync(RcStoreKind.Redis);
        _raw = _fixture.Raw[0];
        _store = _fixture.Services.GetRequiredService<CacheRegistry>().Stores[0];

        // Every row reads the library's own entries, laid out as the library lays them out (sliding: with its header).
        await _fixture.SetUpAsync(async () =>
        {
            var payload = Entries.Payload(Payload);
            var options = Entries.Options(Sliding);
            foreach (var key in _keys)
            {
                await _fixture.Cache.SetAsync(key, payload, options);
            }

            var stored = ((byte[]?)await Raw_Get())?.Length ?? 0;
            Entries.Check(stored >= Payload, "raw GET");
            Entries.Check(((byte[]?)await Raw_GetWithDeadline())?.Length == stored, "raw GET with a deadline");
            Entries.Check((await Store_Get())?.Length == stored, "store GetAsync");
            Entries.Check((await Cache_Get())?.Length == Payload, "IDistributedCache.GetAsync");
        });
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        _deadline.Dispose();
        await _fixture.DisposeAsync();
    }

    [Benchmark(Baseline = true, Description = "raw GET")]
    [BenchmarkCategory("1 caller")]
    public Task<RedisValue> Raw_Get() => _raw.StringGetAsync(_rcKeys[0]);

    [Benchmark(Description = "raw GET, bounded by a shared deadline token")]
    [BenchmarkCategory("1 caller")]
    public ValueTask<RedisValue> Raw_GetWithDeadline() => WithDeadline(_raw.StringGetAsync(_rcKeys[0]));

    [Benchmark(Description = "Rc store (internal): GetAsync")]
    [BenchmarkCategory("1 caller")]
    public ValueTask<byte[]?> Store_Get() => _store.GetAsync(_namespacedKeys[0], CancellationToken.None);

    [Benchmark(Description = "Rc: IDistributedCache.GetAsync")]
    [BenchmarkCategory("1 caller")]
    public Task<byte[]?> Cache_Get() => _fixture.Cache.GetAsync(_keys[0]);

    [Benchmark(Baseline = true, OperationsPerInvoke = Callers.Operations, Description = "raw GET, 64 callers")]
    [BenchmarkCategory("64 callers")]
    public Task Raw_Get_x64() => Callers.RunAsync(c => new ValueTask(_raw.StringGetAsync(_rcKeys[c])));

    [Benchmark(OperationsPerInvoke = Callers.Operations, Description = "raw GET, bounded by a shared deadline token, 64 callers")]
    [BenchmarkCategory("64 callers")]
    public Task Raw_GetWithDeadline_x64() => Callers.RunAsync(c => Discard(WithDeadline(_raw.StringGetAsync(_rcKeys[c]))));

    [Benchmark(OperationsPerInvoke = Callers.Operations, Description = "Rc store (internal): GetAsync, 64 callers")]
    [BenchmarkCategory("64 callers")]
    public Task Store_Get_x64() => Callers.RunAsync(c => _store.GetAsync(_namespacedKeys[c], CancellationToken.None));

    [Benchmark(OperationsPerInvoke = Callers.Operations, Description = "Rc: IDistributedCache.GetAsync, 64 callers")]
    [BenchmarkCategory("64 callers")]
    public Task Cache_Get_x64() => Callers.RunAsync(c => new ValueTask(_fixture.Cache.GetAsync(_keys[c])));

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private static async ValueTask Discard(ValueTask<RedisValue> reply) => await reply;

    private ValueTask<RedisValue> WithDeadline(Task<RedisValue> reply) => reply.IsCompleted ? new(reply) : TimedReply<RedisValue>.WaitAsync(reply, _deadline.Token, CancellationToken.None);
}
