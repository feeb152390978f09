using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Benchmarks.Infrastructure;
using RcAspNet.Caching;
using RcAspNet.Stores;
using StackExchange.Redis;

namespace RcAspNet.Benchmarks.Diagnosis;

/// <summary>
/// Where a Get's time and allocations go, layer by layer, on one Redis server with 1 KiB entries: the raw client's GET;
/// the same GET inside Task.WaitAsync(timeout, TimeProvider) (what RedisStore does to bound every operation); the GET
/// followed by a fire-and-forget EXPIRE (what a sliding entry's renewal costs); one EVALSHA that reads and renews in one
/// command (a candidate fix for sliding entries); then RedisStore.GetAsync (the store alone) and RcDistributedCache.GetAsync
/// (store, namespace, envelope and renewal). Not a target of its own: it shows what limits targets 1, 2 and 4.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class LayerBenchmarks
{
    /// <summary>GET, then PEXPIRE to the sliding window in rc's 20-byte header (capped by its absolute deadline), in one command.</summary>
    private const string GetAndRenewScript = """
        local v = redis.call('GET', KEYS[1])
        if v and #v >= 20 and string.sub(v, 1, 4) == '\0RC\1' then
          local sliding = struct.unpack('<i8', v, 5)
          if sliding > 0 then
            local ttl = sliding
            local absolute = struct.unpack('<i8', v, 13)
            if absolute > 0 then
              local t = redis.call('TIME')
              local left = absolute - (tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
              if left < ttl then ttl = left end
            end
            if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
          end
        end
        return v
        """;

    private static readonly TimeSpan Timeout = new RcOptions().OperationTimeout;

    private readonly string[] _keys = Enumerable.Range(0, Callers.Count).Select(static c => $"post:{c}").ToArray();
    private readonly RedisKey[] _rcKeys = Enumerable.Range(0, Callers.Count).Select(static c => (RedisKey)$"{Keys.RcNamespace}post:{c}").ToArray();
    private readonly string[] _namespacedKeys = Enumerable.Range(0, Callers.Count).Select(static c => $"{Keys.RcNamespace}post:{c}").ToArray();
    private Fixture _fixture = null!;
    private IDatabase _raw = null!;
    private IRcStore _store = null!;
    private byte[] _script = null!;

    [Params(1024)]
    public int Payload { get; set; }

    [Params(false, true)]
    public bool Sliding { get; set; }

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _fixture = await Fixture.StartAsync(RcStoreKind.Redis);
        _raw = _fixture.Raw[0];
        _store = _fixture.Services.GetRequiredService<CacheRegistry>().Default.Keyspace.Store;
        var server = _raw.Multiplexer.GetServer(_raw.Multiplexer.GetEndPoints()[0]);
        _script = await server.ScriptLoadAsync(GetAndRenewScript);

        // Every contender reads the library's own entries, laid out as the library lays them out (sliding: with the header).
        var payload = Entries.Payload(Payload);
        var options = Entries.Options(Sliding);
        foreach (var key in _keys)
        {
            await _fixture.Cache.SetAsync(key, payload, options);
        }

        var stored = Payload + (Sliding ? EntryEnvelope.HeaderSize : 0);
        Entries.Check(((byte[]?)await Raw_Get())?.Length == stored, "raw GET");
        Entries.Check(((byte[]?)await Raw_GetWithTimeout())?.Length == stored, "raw GET in WaitAsync");
        Entries.Check(((byte[]?)await Raw_GetThenExpire())?.Length == stored, "raw GET + EXPIRE");
        Entries.Check(((byte[]?)await Raw_GetAndRenewScript())?.Length == stored, "raw EVALSHA");
        Entries.Check((await Store_Get())?.Length == stored, "RedisStore.GetAsync");
        Entries.Check((await Cache_Get())?.Length == Payload, "RcDistributedCache.GetAsync");
    }

    [GlobalCleanup]
    public async Task CleanupAsync() => await _fixture.DisposeAsync();

    [Benchmark(Baseline = true, Description = "raw GET")]
    [BenchmarkCategory("1 caller")]
    public Task<RedisValue> Raw_Get() => _raw.StringGetAsync(_rcKeys[0]);

    [Benchmark(Description = "raw GET in Task.WaitAsync(timeout, TimeProvider)")]
    [BenchmarkCategory("1 caller")]
    public Task<RedisValue> Raw_GetWithTimeout() => _raw.StringGetAsync(_rcKeys[0]).WaitAsync(Timeout, TimeProvider.System);

    [Benchmark(Description = "raw GET, then fire-and-forget EXPIRE if sliding")]
    [BenchmarkCategory("1 caller")]
    public Task<RedisValue> Raw_GetThenExpire() => GetThenExpireAsync(0);

    [Benchmark(Description = "raw EVALSHA get-and-renew (one command)")]
    [BenchmarkCategory("1 caller")]
    public Task<RedisResult> Raw_GetAndRenewScript() => _raw.ScriptEvaluateAsync(_script, [_rcKeys[0]]);

    [Benchmark(Description = "RedisStore.GetAsync")]
    [BenchmarkCategory("1 caller")]
    public ValueTask<byte[]?> Store_Get() => _store.GetAsync(_namespacedKeys[0], CancellationToken.None);

    [Benchmark(Description = "RcDistributedCache.GetAsync")]
    [BenchmarkCategory("1 caller")]
    public Task<byte[]?> Cache_Get() => _fixture.Cache.GetAsync(_keys[0]);

    [Benchmark(Baseline = true, OperationsPerInvoke = Callers.Operations, Description = "raw GET, 64 callers")]
    [BenchmarkCategory("64 callers")]
    public Task Raw_Get_x64() => Callers.RunAsync(c => new ValueTask(_raw.StringGetAsync(_rcKeys[c])));

    [Benchmark(OperationsPerInvoke = Callers.Operations, Description = "raw GET in Task.WaitAsync(timeout, TimeProvider), 64 callers")]
    [BenchmarkCategory("64 callers")]
    public Task Raw_GetWithTimeout_x64() => Callers.RunAsync(c => new ValueTask(_raw.StringGetAsync(_rcKeys[c]).WaitAsync(Timeout, TimeProvider.System)));

    [Benchmark(OperationsPerInvoke = Callers.Operations, Description = "raw GET, then fire-and-forget EXPIRE if sliding, 64 callers")]
    [BenchmarkCategory("64 callers")]
    public Task Raw_GetThenExpire_x64() => Callers.RunAsync(c => new ValueTask(GetThenExpireAsync(c)));

    [Benchmark(OperationsPerInvoke = Callers.Operations, Description = "raw EVALSHA get-and-renew, 64 callers")]
    [BenchmarkCategory("64 callers")]
    public Task Raw_GetAndRenewScript_x64() => Callers.RunAsync(c => new ValueTask(_raw.ScriptEvaluateAsync(_script, [_rcKeys[c]])));

    [Benchmark(OperationsPerInvoke = Callers.Operations, Description = "RedisStore.GetAsync, 64 callers")]
    [BenchmarkCategory("64 callers")]
    public Task Store_Get_x64() => Callers.RunAsync(c => _store.GetAsync(_namespacedKeys[c], CancellationToken.None));

    [Benchmark(OperationsPerInvoke = Callers.Operations, Description = "RcDistributedCache.GetAsync, 64 callers")]
    [BenchmarkCategory("64 callers")]
    public Task Cache_Get_x64() => Callers.RunAsync(c => new ValueTask(_fixture.Cache.GetAsync(_keys[c])));

    private async Task<RedisValue> GetThenExpireAsync(int caller)
    {
        var value = await _raw.StringGetAsync(_rcKeys[caller]);
        if (Sliding)
        {
            _raw.KeyExpire(_rcKeys[caller], Entries.TimeToLive, CommandFlags.FireAndForget);
        }

        return value;
    }
}
