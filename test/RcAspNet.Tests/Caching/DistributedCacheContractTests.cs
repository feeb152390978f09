using System.Buffers;
using System.Text;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Logging.Abstractions;
using RcAspNet.Caching;
using RcAspNet.Stores;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Caching;

/// <summary>The IDistributedCache contract (Microsoft's semantics at millisecond precision), run against every store.</summary>
public abstract class DistributedCacheContractTests : IAsyncLifetime
{
    private IRcStore? _store;
    private RcDistributedCache? _cache;

    internal IRcStore Store => _store!;

    internal RcDistributedCache Cache => _cache!;

    protected string Ns { get; } = SharedRedis.UniqueNamespace();

    /// <summary>The sliding window and short lifetimes of these tests.</summary>
    protected abstract TimeSpan Window { get; }

    protected abstract TimeSpan DefaultExpiration { get; }

    protected virtual TimeProvider Time => TimeProvider.System;

    public async Task InitializeAsync()
    {
        _store = await CreateStoreAsync();
        var options = TestStores.Options(o => o.MaximumValueSize = 4 * 1024 * 1024);
        _cache = new RcDistributedCache(new CacheNamespace("default", _store, Ns, DefaultExpiration, options, Time, RcAspNet.Diagnostics.RcMetrics.Standalone, NullLogger.Instance));
    }

    public async Task DisposeAsync() => await Store.DisposeAsync();

    internal abstract Task<IRcStore> CreateStoreAsync();

    protected abstract Task PassAsync(TimeSpan time);

    private static DistributedCacheEntryOptions Relative(TimeSpan ttl) => new() { AbsoluteExpirationRelativeToNow = ttl };

    private static DistributedCacheEntryOptions Sliding(TimeSpan window) => new() { SlidingExpiration = window };

    [Fact]
    public async Task Get_MissingKey_ReturnsNull() => Assert.Null(await Cache.GetAsync("missing"));

    [Fact]
    public async Task TheLongestSlidingWindow_KeepsTheEntry_AndReadsRenewIt()
    {
        await Cache.SetAsync("forever", [7], Sliding(TimeSpan.MaxValue));
        Assert.Equal([7], (await Cache.GetAsync("forever"))!);
        Assert.Equal([7], (await Cache.GetAsync("forever"))!);
        await Cache.RefreshAsync("forever");
        Cache.Refresh("forever");
        Assert.Equal([7], Cache.Get("forever"));
    }

    [Fact]
    public async Task Set_ThenGet_ReturnsTheValue()
    {
        await Cache.SetAsync("key", [1, 2, 3], new DistributedCacheEntryOptions());
        Assert.Equal([1, 2, 3], (await Cache.GetAsync("key"))!);
    }

    [Fact]
    public void SyncMembers_WorkLikeTheAsyncOnes()
    {
        Cache.Set("sync", [4], Sliding(TimeSpan.FromMinutes(1)));
        Assert.Equal([4], Cache.Get("sync"));
        Cache.Refresh("sync");
        Cache.Remove("sync");
        Assert.Null(Cache.Get("sync"));
    }

    [Fact]
    public async Task SetAsync_WithACancelledToken_IsACancelledTask_AndWritesNothing()
    {
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        var write = Cache.SetAsync("cancelled", [1], new DistributedCacheEntryOptions(), cancelled.Token);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => write);
        Assert.True(write.IsCanceled, $"the task is {write.Status}");

        var buffered = Cache.SetAsync("cancelled", new ReadOnlySequence<byte>([1]), new DistributedCacheEntryOptions(), cancelled.Token).AsTask();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => buffered);
        Assert.True(buffered.IsCanceled, $"the task is {buffered.Status}");

        Assert.Null(await Cache.GetAsync("cancelled"));
    }

    [Fact]
    public async Task NullArguments_AreArgumentNullExceptions()
    {
        Assert.Equal("key", (await Assert.ThrowsAsync<ArgumentNullException>(() => Cache.GetAsync(null!))).ParamName);
        Assert.Equal("key", (await Assert.ThrowsAsync<ArgumentNullException>(() => Cache.SetAsync(null!, [1], new()))).ParamName);
        Assert.Equal("value", (await Assert.ThrowsAsync<ArgumentNullException>(() => Cache.SetAsync("k", null!, new()))).ParamName);
        Assert.Equal("options", (await Assert.ThrowsAsync<ArgumentNullException>(() => Cache.SetAsync("k", [1], null!))).ParamName);
        Assert.Equal("key", (await Assert.ThrowsAsync<ArgumentNullException>(() => Cache.RemoveAsync(null!))).ParamName);
        Assert.Equal("key", (await Assert.ThrowsAsync<ArgumentNullException>(() => Cache.RefreshAsync(null!))).ParamName);
        Assert.Equal("destination", (await Assert.ThrowsAsync<ArgumentNullException>(async () => await Cache.TryGetAsync("k", null!))).ParamName);
    }

    [Fact]
    public async Task EmptyKey_IsAnArgumentErrorNamingTheRule()
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() => Cache.GetAsync(""));
        Assert.Equal("key", error.ParamName);
        Assert.Contains("must not be empty", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OverlongKey_IsAnArgumentErrorNamingTheSetting()
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() => Cache.SetAsync(new string('k', 1025), [1], new()));
        Assert.Equal("key", error.ParamName);
        Assert.Contains("Rc:MaximumKeyLength", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KeyWithALoneSurrogate_IsAnArgumentErrorNamingTheRule_AndAPairIsAKeyLikeAnyOther()
    {
        // "k\uD800" and "k\uDC00" would both be "k\uFFFD" in Redis: one key there, two here.
        var error = await Assert.ThrowsAsync<ArgumentException>(() => Cache.SetAsync("k\uD800", [1], new()));
        Assert.Equal("key", error.ParamName);
        Assert.Contains("surrogate", error.Message, StringComparison.Ordinal);
        Assert.Equal("key", (await Assert.ThrowsAsync<ArgumentException>(() => Cache.GetAsync("\uDC00k"))).ParamName);
        await Cache.SetAsync("k\uD83D\uDE00", [2], new());
        Assert.Equal([2], await Cache.GetAsync("k\uD83D\uDE00"));
    }

    [Fact]
    public async Task KeyOfATagsOwnKeys_IsAnArgumentErrorNamingTheRule()
    {
        // "{rc-tag:post}:keys" in a namespace is where the tag "post" keeps its members: an entry there would be one.
        var error = await Assert.ThrowsAsync<ArgumentException>(() => Cache.SetAsync("{rc-tag:post}:keys", [1], new()));
        Assert.Equal("key", error.ParamName);
        Assert.Contains("{rc-tag:", error.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentException>(() => Cache.SetAsync("a{rc-tag:b}:keys", [1], new()));
        await Cache.SetAsync("rc-tag:post", [2], new());
        Assert.Equal([2], await Cache.GetAsync("rc-tag:post"));
    }

    [Fact]
    public async Task AbsoluteExpirationInThePast_IsOutOfRange()
    {
        var options = new DistributedCacheEntryOptions { AbsoluteExpiration = Time.GetUtcNow().AddSeconds(-1) };
        var error = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Cache.SetAsync("past", [1], options));
        Assert.Equal(nameof(DistributedCacheEntryOptions.AbsoluteExpiration), error.ParamName);
        Assert.Null(await Cache.GetAsync("past"));

        // Beside a relative expiration too, as RedisCache refuses it.
        options.AbsoluteExpirationRelativeToNow = TimeSpan.FromMinutes(1);
        error = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Cache.SetAsync("past", [1], options));
        Assert.Equal(nameof(DistributedCacheEntryOptions.AbsoluteExpiration), error.ParamName);
        Assert.Null(await Cache.GetAsync("past"));
    }

    [Fact]
    public async Task ACancelledToken_IsCancelled_EvenForAValueReadBefore()
    {
        // Read twice first, so that a near cache holds a copy: a copy is no answer to a caller that gave up either.
        await Cache.SetAsync("cancelled", [1], new DistributedCacheEntryOptions());
        Assert.Equal([1], await Cache.GetAsync("cancelled"));
        Assert.Equal([1], await Cache.GetAsync("cancelled"));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Cache.GetAsync("cancelled", new CancellationToken(true)));
    }

    [Fact]
    public async Task EmptyValue_ReadsBackAsEmptyNonNullArray()
    {
        await Cache.SetAsync("empty", [], new DistributedCacheEntryOptions());
        var value = await Cache.GetAsync("empty");
        Assert.NotNull(value);
        Assert.Empty(value);
    }

    [Fact]
    public async Task Keys_AreCaseSensitiveAndNeverTrimmed()
    {
        string[] keys = ["Key", "key", " key", "key ", "ke y"];
        for (var i = 0; i < keys.Length; i++)
        {
            await Cache.SetAsync(keys[i], [(byte)i], new DistributedCacheEntryOptions());
        }

        for (var i = 0; i < keys.Length; i++)
        {
            Assert.Equal([(byte)i], (await Cache.GetAsync(keys[i]))!);
        }
    }

    [Theory]
    [InlineData("with spaces and : colons")]
    [InlineData("new\nline")]
    [InlineData("ünïcødé 中文 😀")]
    public async Task UnusualKeys_RoundTrip(string key)
    {
        await Cache.SetAsync(key, Encoding.UTF8.GetBytes(key), new DistributedCacheEntryOptions());
        Assert.Equal(key, Encoding.UTF8.GetString((await Cache.GetAsync(key))!));
    }

    [Fact]
    public async Task LargeBinaryValue_RoundTrips()
    {
        var value = new byte[2 * 1024 * 1024];
        Random.Shared.NextBytes(value);
        await Cache.SetAsync("large", value, Sliding(TimeSpan.FromMinutes(1)));
        Assert.Equal(value, (await Cache.GetAsync("large"))!);
    }

    [Fact]
    public async Task ValueLargerThanTheLimit_IsNotStoredAndLeavesNoOlderValue()
    {
        await Cache.SetAsync("too-large", [1], new DistributedCacheEntryOptions());
        await Cache.SetAsync("too-large", new byte[(4 * 1024 * 1024) + 1], new DistributedCacheEntryOptions());
        Assert.Null(await Cache.GetAsync("too-large"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ValueThatLooksLikeTheHeader_RoundTripsUnchanged(bool sliding)
    {
        byte[] value = [0, (byte)'R', (byte)'C', 1, 9, 9, 9];
        await Cache.SetAsync("magic", value, sliding ? Sliding(TimeSpan.FromMinutes(1)) : new());
        Assert.Equal(value, (await Cache.GetAsync("magic"))!);
    }

    [Fact]
    public async Task EntryWithAnUnknownHeader_IsAMiss()
    {
        await Store.SetAsync(Ns + "foreign", [0, (byte)'R', (byte)'C', 77, 1, 2], TimeSpan.FromMinutes(1), true, default);
        await Store.SetAsync(Ns + "truncated", [0, (byte)'R', (byte)'C', 1, 1], TimeSpan.FromMinutes(1), true, default);
        Assert.Null(await Cache.GetAsync("foreign"));
        Assert.Null(await Cache.GetAsync("truncated"));
    }

    [Fact]
    public async Task RelativeExpiration_Expires()
    {
        await Cache.SetAsync("relative", [1], Relative(Window));
        await PassAsync(Window / 2);
        Assert.NotNull(await Cache.GetAsync("relative"));
        await PassAsync(Window);
        Assert.Null(await Cache.GetAsync("relative"));
    }

    [Fact]
    public async Task AbsoluteExpiration_Expires()
    {
        await Cache.SetAsync("absolute", [1], new DistributedCacheEntryOptions { AbsoluteExpiration = Time.GetUtcNow() + Window });
        await PassAsync(Window / 2);
        Assert.NotNull(await Cache.GetAsync("absolute"));
        await PassAsync(Window);
        Assert.Null(await Cache.GetAsync("absolute"));
    }

    [Fact]
    public async Task NoExpiration_LivesForTheDefaultExpiration()
    {
        await Cache.SetAsync("default", [1], new DistributedCacheEntryOptions());
        await PassAsync(DefaultExpiration * 0.6);
        Assert.NotNull(await Cache.GetAsync("default"));
        await PassAsync(DefaultExpiration * 0.6);
        Assert.Null(await Cache.GetAsync("default"));
    }

    [Fact]
    public async Task Get_SlidingEntry_RenewsTtl()
    {
        await Cache.SetAsync("sliding", [1], Sliding(Window));
        for (var i = 0; i < 3; i++)
        {
            await PassAsync(Window * 0.6);
            Assert.NotNull(await Cache.GetAsync("sliding"));
        }

        await PassAsync(Window * 1.3);
        Assert.Null(await Cache.GetAsync("sliding"));
    }

    [Fact]
    public async Task SlidingEntry_NeverOutlivesItsAbsoluteExpiration()
    {
        await Cache.SetAsync("capped", [1], new DistributedCacheEntryOptions { SlidingExpiration = Window, AbsoluteExpirationRelativeToNow = Window * 1.5 });
        await PassAsync(Window * 0.6);
        Assert.NotNull(await Cache.GetAsync("capped"));
        await PassAsync(Window * 0.6);
        Assert.NotNull(await Cache.GetAsync("capped"));
        await PassAsync(Window * 0.6);
        Assert.Null(await Cache.GetAsync("capped"));
    }

    [Fact]
    public async Task Refresh_ExtendsASlidingEntry()
    {
        await Cache.SetAsync("refresh", [1], Sliding(Window));
        await PassAsync(Window * 0.6);
        await Cache.RefreshAsync("refresh");
        await PassAsync(Window * 0.6);
        Assert.NotNull(await Cache.GetAsync("refresh"));
    }

    [Fact]
    public async Task Refresh_DoesNotExtendAnEntryWithoutSliding()
    {
        await Cache.SetAsync("fixed", [1], Relative(Window));
        await PassAsync(Window * 0.6);
        await Cache.RefreshAsync("fixed");
        await PassAsync(Window * 0.6);
        Assert.Null(await Cache.GetAsync("fixed"));
    }

    [Fact]
    public async Task Remove_DeletesTheEntry()
    {
        await Cache.SetAsync("remove", [1], new DistributedCacheEntryOptions());
        await Cache.RemoveAsync("remove");
        Assert.Null(await Cache.GetAsync("remove"));
    }

    [Fact]
    public async Task TryGet_WritesTheValueToTheBuffer()
    {
        await Cache.SetAsync("buffer", [5, 6, 7], Sliding(TimeSpan.FromMinutes(1)));
        var destination = new ArrayBufferWriter<byte>();
        Assert.True(await Cache.TryGetAsync("buffer", destination));
        Assert.Equal([5, 6, 7], destination.WrittenSpan.ToArray());
        Assert.False(await Cache.TryGetAsync("nothing", destination));
        Assert.Equal(3, destination.WrittenCount);
    }

    [Fact]
    public async Task Set_MultiSegmentSequence_StoresItsBytesInOrder()
    {
        var first = new Segment(new byte[] { 1, 2 });
        var last = first.Append(new byte[] { 3, 4, 5 });
        await Cache.SetAsync("sequence", new ReadOnlySequence<byte>(first, 0, last, 3), new DistributedCacheEntryOptions());
        Assert.Equal([1, 2, 3, 4, 5], (await Cache.GetAsync("sequence"))!);
    }

    [Fact]
    public async Task ReturnedArray_IsTheCallersToChange()
    {
        await Cache.SetAsync("owned", [1, 2], new DistributedCacheEntryOptions());
        var first = (await Cache.GetAsync("owned"))!;
        first[0] = 99;
        Assert.Equal([1, 2], (await Cache.GetAsync("owned"))!);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory) => Memory = memory;

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory) { RunningIndex = RunningIndex + Memory.Length };
            Next = next;
            return next;
        }
    }
}

public sealed class MemoryDistributedCacheTests : DistributedCacheContractTests
{
    private readonly ManualTimeProvider _time = new();

    protected override TimeSpan Window => TimeSpan.FromMinutes(20);

    protected override TimeSpan DefaultExpiration => TimeSpan.FromDays(3);

    protected override TimeProvider Time => _time;

    internal override Task<IRcStore> CreateStoreAsync() => Task.FromResult(TestStores.Memory(_time));

    protected override Task PassAsync(TimeSpan time)
    {
        _time.Advance(time);
        return Task.CompletedTask;
    }
}

/// <summary>
/// The same contract on real Redis servers, with the same long windows: the app's clock is fake, and passing time
/// shrinks the TTLs of the test's keys in Redis by as much (<see cref="RedisTime"/>), so nothing waits on the wall clock.
/// </summary>
public abstract class RedisDistributedCacheTestsBase : DistributedCacheContractTests
{
    private readonly ManualTimeProvider _time = new();
    private RcOptions _options = null!;

    protected override TimeSpan Window => TimeSpan.FromMinutes(20);

    protected override TimeSpan DefaultExpiration => TimeSpan.FromDays(3);

    protected override TimeProvider Time => _time;

    internal override async Task<IRcStore> CreateStoreAsync()
    {
        _options = await OptionsAsync();
        return TestStores.Create(_options, _time);
    }

    internal abstract Task<RcOptions> OptionsAsync();

    protected override async Task PassAsync(TimeSpan time)
    {
        // Renewals are sent without waiting; a PING on the same connections comes back after them.
        await Store.CheckHealthAsync(default);
        _time.Advance(time);
        await RedisTime.PassAsync(RedisTime.ServersOf(_options), Ns, time);
    }
}

public sealed class RedisDistributedCacheTests : RedisDistributedCacheTestsBase
{
    internal override async Task<RcOptions> OptionsAsync()
    {
        var server = await SharedRedis.Single;
        return TestStores.Options(o => TestServices.Redis(o, server));
    }
}

public sealed class ShardedCrc32DistributedCacheTests : RedisDistributedCacheTestsBase
{
    internal override async Task<RcOptions> OptionsAsync() => TestStores.ShardedOptions(await SharedRedis.Shards, RcRouterKind.Crc32);
}

public sealed class ShardedKetamaDistributedCacheTests : RedisDistributedCacheTestsBase
{
    internal override async Task<RcOptions> OptionsAsync() => TestStores.ShardedOptions(await SharedRedis.Shards, RcRouterKind.Ketama);
}

public sealed class ClusterDistributedCacheTests : RedisDistributedCacheTestsBase
{
    internal override async Task<RcOptions> OptionsAsync()
    {
        var cluster = await SharedRedis.Cluster;
        return TestStores.Options(o => (o.Store, o.Redis) = (RcStoreKind.Redis, cluster.Configuration));
    }
}

/// <summary>The same contract with the near cache on: it must change no result.</summary>
public sealed class RedisNearDistributedCacheTests : RedisDistributedCacheTestsBase
{
    internal override async Task<RcOptions> OptionsAsync()
    {
        var server = await SharedRedis.Single;
        return TestStores.Options(o =>
        {
            TestServices.Redis(o, server);
            o.NearCache.Enabled = true;
        });
    }
}

public sealed class ShardedNearDistributedCacheTests : RedisDistributedCacheTestsBase
{
    internal override async Task<RcOptions> OptionsAsync()
    {
        var options = TestStores.ShardedOptions(await SharedRedis.Shards, RcRouterKind.Crc32);
        options.NearCache.Enabled = true;
        return options;
    }
}

public sealed class ClusterNearDistributedCacheTests : RedisDistributedCacheTestsBase
{
    internal override async Task<RcOptions> OptionsAsync()
    {
        var cluster = await SharedRedis.Cluster;
        return TestStores.Options(o => (o.Store, o.Redis, o.NearCache.Enabled) = (RcStoreKind.Redis, cluster.Configuration, true));
    }
}
