using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Benchmarks.Infrastructure;
using StackExchange.Redis;

namespace RcAspNet.Benchmarks.TwoLevel;

/// <summary>
/// Microsoft's HybridCache (<c>AddHybridCache()</c>) with its second level on Redis, read through that second level:
/// over Microsoft's RedisCache (<c>AddStackExchangeRedisCache</c>, the baseline) and over RcAspNet (<c>AddRcCache</c>),
/// on the same redis-server, a <see cref="Post"/> of about 1 KiB of JSON. How the L2 path is measured: every call
/// passes <see cref="HybridCacheEntryFlags.DisableLocalCacheRead"/>, so HybridCache skips its memory cache and reads
/// Redis, deserializes, and writes the value back to its memory cache, which it then never reads: everything an L1 miss
/// costs except the failed memory lookup (tens of nanoseconds). The entry is written beforehand through the same
/// HybridCache, the factory throws if it is ever called, and set-up checks with Redis's own command counts that each
/// call reaches Redis. The raw client's GET of the same JSON plus its deserialization is the floor of that path.
/// </summary>
[MemoryDiagnoser]
public class HybridCacheBenchmarks
{
    private const string Key = "post:1";
    private const string RawKey = Keys.Raw + Key;

    private static readonly HybridCacheEntryOptions L1Miss = new() { Flags = HybridCacheEntryFlags.DisableLocalCacheRead };

    private static readonly Func<CancellationToken, ValueTask<Post>> Factory =
        static _ => ValueTask.FromException<Post>(new InvalidOperationException("The factory ran: the entry was not read from Redis."));

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private Fixture _fixture = null!;
    private ServiceProvider _microsoftServices = null!;
    private HybridCache _overMicrosoft = null!;
    private HybridCache _overRc = null!;
    private IDatabase _raw = null!;

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _fixture = await Fixture.StartAsync(RcStoreKind.Redis, configure: static s => s.AddHybridCache(Configure));
        _overRc = _fixture.Services.GetRequiredService<HybridCache>();

        var microsoft = new ServiceCollection();
        microsoft.AddStackExchangeRedisCache(o => _fixture.ConfigureMicrosoft(o));
        microsoft.AddHybridCache(Configure);
        _microsoftServices = microsoft.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
        _overMicrosoft = _microsoftServices.GetRequiredService<HybridCache>();

        _raw = _fixture.Raw[0];
        await _fixture.SetUpAsync(async () =>
        {
            await _raw.StringSetAsync(RawKey, JsonSerializer.SerializeToUtf8Bytes(Post.Sample, Json), Entries.TimeToLive);
            await _overMicrosoft.SetAsync(Key, Post.Sample);
            await _overRc.SetAsync(Key, Post.Sample);

            Entries.Check(await Raw_GetDeserialize() == Post.Sample, "raw GET + deserialize");
            Entries.Check(await Microsoft_L2Hit() == Post.Sample, "HybridCache over RedisCache");
            Entries.Check(await Rc_L2Hit() == Post.Sample, "HybridCache over Rc");
            await _fixture.CheckEachCallReachesRedisAsync(async () => await Microsoft_L2Hit(), "HybridCache over RedisCache");
            await _fixture.CheckEachCallReachesRedisAsync(async () => await Rc_L2Hit(), "HybridCache over Rc");
        });
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        await _microsoftServices.DisposeAsync();
        await _fixture.DisposeAsync();
    }

    [Benchmark(Baseline = true, Description = "HybridCache over Microsoft RedisCache: GetOrCreateAsync, L1 read disabled")]
    public ValueTask<Post> Microsoft_L2Hit() => _overMicrosoft.GetOrCreateAsync(Key, Factory, L1Miss);

    [Benchmark(Description = "HybridCache over Rc: GetOrCreateAsync, L1 read disabled")]
    public ValueTask<Post> Rc_L2Hit() => _overRc.GetOrCreateAsync(Key, Factory, L1Miss);

    [Benchmark(Description = "raw client: GET + System.Text.Json deserialize (floor)")]
    public async Task<Post> Raw_GetDeserialize() => JsonSerializer.Deserialize<Post>((byte[])(await _raw.StringGetAsync(RawKey))!, Json)!;

    private static void Configure(HybridCacheOptions options) =>
        options.DefaultEntryOptions = new HybridCacheEntryOptions { Expiration = Entries.TimeToLive, LocalCacheExpiration = Entries.TimeToLive };
}
