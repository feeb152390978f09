using System.Security.Cryptography;
using System.Text;
using RcAspNet.Stores;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Stores;

/// <summary>The store contract, run against every store: memory, one Redis, three shards with each router, a cluster.</summary>
public abstract class StoreContractTests : IAsyncLifetime
{
    protected static readonly TimeSpan Long = TimeSpan.FromMinutes(5);
    protected static readonly TimeSpan Short = TimeSpan.FromSeconds(30);

    private IRcStore? _store;

    internal IRcStore Store => _store!;

    protected string Ns { get; } = SharedRedis.UniqueNamespace();

    public async Task InitializeAsync() => _store = await CreateStoreAsync();

    public async Task DisposeAsync() => await Store.DisposeAsync();

    internal abstract Task<IRcStore> CreateStoreAsync();

    /// <summary>Lets <paramref name="time"/> pass: a fake clock moves, a real server is waited for.</summary>
    protected abstract Task PassAsync(TimeSpan time);

    protected string K(string key) => Ns + key;

    [Fact]
    public async Task Get_MissingKey_ReturnsNull() => Assert.Null(await Store.GetAsync(K("missing"), default));

    [Fact]
    public async Task Set_ThenGet_ReturnsTheSameBytes()
    {
        var value = new byte[] { 0, 1, 2, 255, 13, 10, 0 };
        await Store.SetAsync(K("bytes"), value, Long, true, default);
        Assert.Equal(value, await Store.GetAsync(K("bytes"), default));
    }

    [Fact]
    public async Task Set_EmptyValue_ReadsBackAsEmptyArray()
    {
        await Store.SetAsync(K("empty"), [], Long, true, default);
        var value = await Store.GetAsync(K("empty"), default);
        Assert.NotNull(value);
        Assert.Empty(value);
    }

    [Fact]
    public async Task Set_LargeValue_RoundTrips()
    {
        var value = new byte[3 * 1024 * 1024];
        Random.Shared.NextBytes(value);
        await Store.SetAsync(K("large"), value, Long, true, default);
        Assert.Equal(value, await Store.GetAsync(K("large"), default));
    }

    [Theory]
    [InlineData("with space")]
    [InlineData("with:colons:")]
    [InlineData("line\nbreak\r\n")]
    [InlineData("中文 café 😀")]
    [InlineData("{hash}tag")]
    [InlineData("\0binary\u0001")]
    public async Task Keys_OfAnyShape_RoundTripAndStayDistinct(string key)
    {
        await Store.SetAsync(K(key), Encoding.UTF8.GetBytes(key), Long, true, default);
        await Store.SetAsync(K(key.Trim()) + "x", [1], Long, true, default);
        Assert.Equal(key, Encoding.UTF8.GetString((await Store.GetAsync(K(key), default))!));
    }

    [Fact]
    public async Task Keys_AreCaseSensitive()
    {
        await Store.SetAsync(K("Case"), [1], Long, true, default);
        await Store.SetAsync(K("case"), [2], Long, true, default);
        Assert.Equal([1], await Store.GetAsync(K("Case"), default));
        Assert.Equal([2], await Store.GetAsync(K("case"), default));
    }

    [Fact]
    public async Task Set_ReplacesValueAndTimeToLive()
    {
        await Store.SetAsync(K("replace"), [1], Short, true, default);
        await Store.SetAsync(K("replace"), [2], Long, true, default);
        await PassAsync(Short * 2);
        Assert.Equal([2], await Store.GetAsync(K("replace"), default));
    }

    [Fact]
    public async Task Get_AfterTimeToLive_Misses()
    {
        await Store.SetAsync(K("ttl"), [1], Short, true, default);
        Assert.NotNull(await Store.GetAsync(K("ttl"), default));
        await PassAsync(Short * 2);
        Assert.Null(await Store.GetAsync(K("ttl"), default));
        Assert.False(await Store.ExistsAsync(K("ttl"), default));
    }

    [Fact]
    public async Task Expire_SetsANewTimeToLive()
    {
        await Store.SetAsync(K("expire"), [1], Long, true, default);
        Assert.True(await Store.ExpireAsync(K("expire"), Short, default));
        await PassAsync(Short * 2);
        Assert.Null(await Store.GetAsync(K("expire"), default));
    }

    [Fact]
    public async Task Expire_MissingKey_ReturnsFalse() => Assert.False(await Store.ExpireAsync(K("nothing"), Long, default));

    [Fact]
    public async Task RenewInBackground_ExtendsTheEntryItRead()
    {
        await Store.SetAsync(K("touch"), [0, 1, 2], Short, true, default);
        Store.RenewInBackground(K("touch"), new byte[] { 0, 1 }, Long);
        Assert.True(await Store.ExistsAsync(K("touch"), default));
        await PassAsync(Short * 2);
        Assert.Equal([0, 1, 2], await Store.GetAsync(K("touch"), default));
    }

    [Fact]
    public async Task Renew_TheEntryRead_ExtendsIt()
    {
        await Store.SetAsync(K("renew-async"), [0, 1, 2], Short, true, default);
        await Store.SetAsync(K("renew-sync"), [0, 1, 2], Short, true, default);
        Assert.True(await Store.RenewAsync(K("renew-async"), new byte[] { 0, 1 }, Long, default));
        Assert.True(Store.Renew(K("renew-sync"), new byte[] { 0, 1 }, Long));
        await PassAsync(Short * 2);
        Assert.Equal([0, 1, 2], await Store.GetAsync(K("renew-async"), default));
        Assert.Equal([0, 1, 2], await Store.GetAsync(K("renew-sync"), default));
    }

    [Fact]
    public async Task Renew_AValueWrittenSinceTheRead_KeepsTheLifetimeItsWriterGaveIt()
    {
        // The renewal of the entry read ([0, 1, ...], sliding) comes after another value replaced it with a short lifetime.
        await Store.SetAsync(K("replaced"), [0, 1, 2], Long, true, default);
        await Store.SetAsync(K("replaced"), [0, 9, 2], Short, true, default);
        Assert.False(await Store.RenewAsync(K("replaced"), new byte[] { 0, 1 }, Long, default));
        Assert.False(Store.Renew(K("replaced"), new byte[] { 0, 1 }, Long));
        Store.RenewInBackground(K("replaced"), new byte[] { 0, 1 }, Long);
        Assert.Equal([0, 9, 2], await Store.GetAsync(K("replaced"), default));
        await PassAsync(Short * 2);
        Assert.Null(await Store.GetAsync(K("replaced"), default));
    }

    [Fact]
    public async Task Renew_MissingKey_ReturnsFalse()
    {
        Assert.False(await Store.RenewAsync(K("nothing"), new byte[] { 0, 1 }, Long, default));
        Assert.False(Store.Renew(K("nothing"), new byte[] { 0, 1 }, Long));
    }

    [Fact]
    public async Task GetMany_AnswersInInputOrder_WithMissesAsNull()
    {
        var keys = Enumerable.Range(0, 40).Select(i => K($"many{i}")).ToArray();
        for (var i = 0; i < keys.Length; i += 2)
        {
            await Store.SetAsync(keys[i], [(byte)i], Long, true, default);
        }

        var values = await Store.GetManyAsync(keys, default);
        Assert.Equal(keys.Length, values.Length);
        for (var i = 0; i < keys.Length; i++)
        {
            Assert.Equal(i % 2 == 0 ? [(byte)i] : null, values[i]);
        }
    }

    [Fact]
    public async Task GetMany_NoKeys_ReturnsEmpty() => Assert.Empty(await Store.GetManyAsync([], default));

    [Fact]
    public async Task GetMany_SameKeyTwice_AnswersBoth()
    {
        await Store.SetAsync(K("twice"), [7], Long, true, default);
        var values = await Store.GetManyAsync([K("twice"), K("other"), K("twice")], default);
        Assert.Equal([7], values[0]);
        Assert.Null(values[1]);
        Assert.Equal([7], values[2]);
    }

    [Fact]
    public async Task SetMany_WritesEveryEntryWithItsTimeToLive()
    {
        var entries = Enumerable.Range(0, 30).Select(i => new StoreEntry(K($"setmany{i}"), [(byte)i], i % 2 == 0 ? Long : Short)).ToArray();
        await Store.SetManyAsync(entries, true, default);
        var values = await Store.GetManyAsync(entries.Select(static e => e.Key).ToArray(), default);
        Assert.All(Enumerable.Range(0, 30), i => Assert.Equal([(byte)i], values[i]!));

        await PassAsync(Short * 2);
        values = await Store.GetManyAsync(entries.Select(static e => e.Key).ToArray(), default);
        Assert.All(Enumerable.Range(0, 30), i => Assert.Equal(i % 2 == 0 ? [(byte)i] : null, values[i]));
    }

    [Fact]
    public async Task Delete_RemovesAndSaysWhetherItExisted()
    {
        await Store.SetAsync(K("delete"), [1], Long, true, default);
        Assert.Equal(new RcRemovalResult(1, 0), await Store.DeleteAsync(K("delete"), default));
        Assert.Equal(new RcRemovalResult(0, 0), await Store.DeleteAsync(K("delete"), default));
        Assert.Null(await Store.GetAsync(K("delete"), default));
    }

    [Fact]
    public async Task DeleteMany_RemovesEveryKeyAndCountsThem()
    {
        var keys = Enumerable.Range(0, 25).Select(i => K($"delmany{i}")).ToArray();
        foreach (var key in keys.Take(20))
        {
            await Store.SetAsync(key, [1], Long, true, default);
        }

        Assert.Equal(new RcRemovalResult(20, 0), await Store.DeleteManyAsync(keys, default));
        Assert.All(await Store.GetManyAsync(keys, default), Assert.Null);
    }

    [Fact]
    public async Task Add_WritesOnlyWhenAbsent()
    {
        Assert.True(await Store.AddAsync(K("add"), [1], Long, default));
        Assert.False(await Store.AddAsync(K("add"), [2], Long, default));
        Assert.Equal([1], await Store.GetAsync(K("add"), default));
    }

    [Fact]
    public async Task Add_AfterExpiry_Writes()
    {
        Assert.True(await Store.AddAsync(K("add-expired"), [1], Short, default));
        await PassAsync(Short * 2);
        Assert.True(await Store.AddAsync(K("add-expired"), [2], Long, default));
        Assert.Equal([2], await Store.GetAsync(K("add-expired"), default));
    }

    [Fact]
    public async Task Increment_StartsAtZeroAndAdds()
    {
        Assert.Equal(5, await Store.IncrementAsync(K("counter"), 5, Long, default));
        Assert.Equal(3, await Store.IncrementAsync(K("counter"), -2, Long, default));
        Assert.Equal("3"u8.ToArray(), (await Store.GetAsync(K("counter"), default))!);
    }

    [Fact]
    public async Task Increment_NewCounter_ExpiresWithItsTimeToLive()
    {
        await Store.IncrementAsync(K("counter-ttl"), 1, Short, default);
        await Store.IncrementAsync(K("counter-ttl"), 1, Long, default);
        await PassAsync(Short * 2);
        Assert.False(await Store.ExistsAsync(K("counter-ttl"), default));
    }

    [Fact]
    public async Task Clear_RemovesOnlyKeysOfThePrefix()
    {
        var inside = Enumerable.Range(0, 1500).Select(i => new StoreEntry(K($"clear:{i}"), [1], Long)).ToArray();
        await Store.SetManyAsync(inside, true, default);
        await Store.SetAsync(K("kept"), [1], Long, true, default);
        await Store.SetAsync(K("clear*glob"), [1], Long, true, default);

        Assert.Equal(new RcRemovalResult(1500, 0), await Store.ClearAsync(K("clear:"), default));
        Assert.All(await Store.GetManyAsync(inside.Select(static e => e.Key).ToArray(), default), Assert.Null);
        Assert.NotNull(await Store.GetAsync(K("kept"), default));
        Assert.NotNull(await Store.GetAsync(K("clear*glob"), default));
    }

    [Fact]
    public async Task Operations_HonourACancelledToken()
    {
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await Store.GetAsync(K("c"), cancelled.Token));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await Store.SetAsync(K("c"), [1], Long, true, cancelled.Token));
    }

    [Fact]
    public async Task Increment_OfAValueThatIsNotAnInteger_IsAnInvalidOperationOnEveryStore()
    {
        await Store.SetAsync(K("text"), "abc"u8.ToArray(), Long, true, default);
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await Store.IncrementAsync(K("text"), 1, Long, default));
        Assert.Equal("abc"u8.ToArray(), await Store.GetAsync(K("text"), default));
    }

    [Fact]
    public async Task Increment_PastTheLargestInteger_IsAnOverflowOnEveryStore()
    {
        await Store.SetAsync(K("big"), Encoding.ASCII.GetBytes(long.MaxValue.ToString(System.Globalization.CultureInfo.InvariantCulture)), Long, true, default);
        await Assert.ThrowsAsync<OverflowException>(async () => await Store.IncrementAsync(K("big"), 1, Long, default));
    }

    [Fact]
    public async Task CheckHealth_ReportsEveryShardUp()
    {
        var statuses = await Store.CheckHealthAsync(default);
        Assert.NotEmpty(statuses);
        Assert.All(statuses, static s => Assert.True(s.IsUp, s.Error));
    }

    /// <summary>A load writes under a lease, on every store that stores: a removal revokes it, and the write goes only over what the load read.</summary>
    [Fact]
    public async Task Fill_UnderALeaseTwoLoadsShare_AWriteRefusedLeavesTheLeaseToTheOther()
    {
        var token = await Store.LeaseAsync(K("leased"), default);
        Assert.False(string.IsNullOrEmpty(token));

        // Two loads share the lease; one read an entry that is no longer there (its write is refused), one read nothing.
        Assert.Equal(token, await Store.LeaseAsync(K("leased"), default));
        await Store.SetAsync(K("leased"), [1], Long, true, default);
        byte[] otherEntry = [(byte)'D', .. Encoding.ASCII.GetBytes(new string('0', 40))];
        Assert.False(await Store.FillAsync(K("leased"), [2], Long, new FillLease(token!, otherEntry), default));
        await Store.DeleteAsync(K("leased"), default);
        Assert.Null(await Store.GetAsync(K("leased"), default));

        // The removal revoked the lease: neither load writes.
        Assert.False(await Store.FillAsync(K("leased"), [3], Long, new FillLease(token!, []), default));
        Assert.Null(await Store.GetAsync(K("leased"), default));

        // A new load takes a new lease; the refused write of one of two sharers leaves it to the other.
        var fresh = await Store.LeaseAsync(K("leased"), default);
        Assert.NotEqual(token, fresh);
        Assert.Equal(fresh, await Store.LeaseAsync(K("leased"), default));
        await Store.SetAsync(K("leased"), [4], Long, true, default);
        Assert.False(await Store.FillAsync(K("leased"), [5], Long, new FillLease(fresh!, []), default));
        Assert.True(await Store.FillAsync(K("leased"), [6], Long, new FillLease(fresh!, [(byte)'D', .. Encoding.ASCII.GetBytes(Convert.ToHexStringLower(SHA1.HashData([4])))]), default));
        Assert.Equal([6], await Store.GetAsync(K("leased"), default));
    }
}

public sealed class MemoryStoreContractTests : StoreContractTests
{
    private readonly ManualTimeProvider _time = new();

    internal override Task<IRcStore> CreateStoreAsync() => Task.FromResult(TestStores.Memory(_time));

    protected override Task PassAsync(TimeSpan time)
    {
        _time.Advance(time);
        return Task.CompletedTask;
    }
}

/// <summary>The contract on real Redis servers: time passes by shrinking the TTLs of the test's keys (<see cref="RedisTime"/>), not by waiting.</summary>
public abstract class RedisStoreContractTestsBase : StoreContractTests
{
    private readonly ManualTimeProvider _time = new();
    private RcOptions _options = null!;

    internal override async Task<IRcStore> CreateStoreAsync()
    {
        _options = await OptionsAsync();
        return TestStores.Create(_options, _time);
    }

    internal abstract Task<RcOptions> OptionsAsync();

    protected override async Task PassAsync(TimeSpan time)
    {
        await Store.CheckHealthAsync(default);
        _time.Advance(time);
        await RedisTime.PassAsync(RedisTime.ServersOf(_options), Ns, time);
    }

    /// <summary>On Redis, a write lets the lease go: a load that shared it writes no more, whatever it expects.</summary>
    [Fact]
    public async Task Fill_AWriteLetsTheLeaseGo()
    {
        var token = await Store.LeaseAsync(K("let-go"), default);
        Assert.True(await Store.FillAsync(K("let-go"), [6], Long, new FillLease(token!, []), default));
        Assert.False(await Store.FillAsync(K("let-go"), [7], Long, new FillLease(token!, [(byte)'D', .. Encoding.ASCII.GetBytes(Convert.ToHexStringLower(SHA1.HashData([6])))]), default));
        Assert.Equal([6], await Store.GetAsync(K("let-go"), default));
    }
}

public sealed class RedisStoreContractTests : RedisStoreContractTestsBase
{
    internal override async Task<RcOptions> OptionsAsync()
    {
        var server = await SharedRedis.Single;
        return TestStores.Options(o => TestServices.Redis(o, server));
    }
}

public sealed class ShardedCrc32StoreContractTests : RedisStoreContractTestsBase
{
    internal override async Task<RcOptions> OptionsAsync() => TestStores.ShardedOptions(await SharedRedis.Shards, RcRouterKind.Crc32);
}

public sealed class ShardedKetamaStoreContractTests : RedisStoreContractTestsBase
{
    internal override async Task<RcOptions> OptionsAsync() => TestStores.ShardedOptions(await SharedRedis.Shards, RcRouterKind.Ketama);
}

public sealed class ClusterStoreContractTests : RedisStoreContractTestsBase
{
    internal override async Task<RcOptions> OptionsAsync()
    {
        var cluster = await SharedRedis.Cluster;
        return TestStores.Options(o => (o.Store, o.Redis) = (RcStoreKind.Redis, cluster.Configuration));
    }
}
