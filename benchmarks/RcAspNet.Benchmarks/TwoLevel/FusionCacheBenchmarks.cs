using System.Text.Json;
using BenchmarkDotNet.Attributes;
using RcAspNet.Benchmarks.Infrastructure;
using StackExchange.Redis;
using ZiggyCreatures.Caching.Fusion;
using ZiggyCreatures.Caching.Fusion.Serialization.SystemTextJson;

namespace RcAspNet.Benchmarks.TwoLevel;

/// <summary>
/// Cache-aside of a <see cref="Post"/> (about 1 KiB of JSON) found in Redis: FusionCache with Microsoft's RedisCache as
/// its second level and its System.Text.Json serializer (the baseline), against RcAspNet's
/// <see cref="IRcCache.GetOrSetAsync"/>, which has no memory level and reads Redis on every call. How FusionCache's L2
/// path is measured: every call passes <c>SkipMemoryCacheRead</c>, so FusionCache skips its memory cache and reads
/// Redis, deserializes, and writes the entry back to its memory cache, which it then never reads: everything an L1
/// miss costs except the failed memory lookup. Both entries are written beforehand, both factories throw if ever
/// called, and set-up checks with Redis's own command counts that each call reaches Redis. The raw client's GET of the
/// same JSON plus its deserialization is the floor.
/// </summary>
[MemoryDiagnoser]
public class FusionCacheBenchmarks
{
    private const string Key = "post:1";
    private const string RawKey = Keys.Raw + Key;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private static readonly FusionCacheEntryOptions L1Miss = new() { Duration = Entries.TimeToLive, SkipMemoryCacheRead = true };

    private static readonly Func<CancellationToken, ValueTask<Post>> RcFactory =
        static _ => ValueTask.FromException<Post>(new InvalidOperationException("The factory ran: the entry was not read from Redis."));

    private Fixture _fixture = null!;
    private FusionCache _fusion = null!;
    private IDatabase _raw = null!;

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _fixture = await Fixture.StartAsync(RcStoreKind.Redis);
        _fusion = new FusionCache(new FusionCacheOptions { DefaultEntryOptions = new FusionCacheEntryOptions { Duration = Entries.TimeToLive } });
        _fusion.SetupDistributedCache(_fixture.Microsoft, new FusionCacheSystemTextJsonSerializer());

        _raw = _fixture.Raw[0];
        await _fixture.SetUpAsync(async () =>
        {
            await _raw.StringSetAsync(RawKey, JsonSerializer.SerializeToUtf8Bytes(Post.Sample, Json), Entries.TimeToLive);
            await _fusion.SetAsync(Key, Post.Sample);
            await _fixture.Typed.SetAsync(Key, Post.Sample);

            Entries.Check(await Raw_GetDeserialize() == Post.Sample, "raw GET + deserialize");
            Entries.Check(await Fusion_L2Hit() == Post.Sample, "FusionCache GetOrSetAsync");
            Entries.Check(await Rc_GetOrSet() == Post.Sample, "Rc GetOrSetAsync");
            await _fixture.CheckEachCallReachesRedisAsync(async () => await Fusion_L2Hit(), "FusionCache GetOrSetAsync");
            await _fixture.CheckEachCallReachesRedisAsync(async () => await Rc_GetOrSet(), "Rc GetOrSetAsync");
        });
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        _fusion.Dispose();
        await _fixture.DisposeAsync();
    }

    [Benchmark(Baseline = true, Description = "FusionCache over Microsoft RedisCache: GetOrSetAsync, L1 read skipped")]
    public ValueTask<Post> Fusion_L2Hit() =>
        _fusion.GetOrSetAsync<Post>(Key, static (_, _) => throw new InvalidOperationException("The factory ran: the entry was not read from Redis."), options: L1Miss);

    [Benchmark(Description = "Rc: IRcCache.GetOrSetAsync, hit in Redis")]
    public ValueTask<Post> Rc_GetOrSet() => _fixture.Typed.GetOrSetAsync(Key, RcFactory);

    [Benchmark(Description = "raw client: GET + System.Text.Json deserialize (floor)")]
    public async Task<Post> Raw_GetDeserialize() => JsonSerializer.Deserialize<Post>((byte[])(await _raw.StringGetAsync(RawKey))!, Json)!;
}
