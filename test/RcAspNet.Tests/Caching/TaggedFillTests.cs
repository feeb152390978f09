using Microsoft.Extensions.Logging.Abstractions;
using RcAspNet.Caching;
using RcAspNet.Diagnostics;
using RcAspNet.Stores;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Caching;

/// <summary>A fill that carries tags, against an invalidation of one of them that comes as it writes.</summary>
public sealed class TaggedFillTests
{
    private const string Tag = "post:1";

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AMemoryStoreCompactionBetweenAFillsRegistrationAndItsWrite_LeavesNoEntryItsTagCannotFind(bool asABatchWrites)
    {
        // A fill registers under its tags, then writes. A full memory store compacts in between, and drops members whose
        // entries it does not hold: had the fill then written, the tag would not know the entry, and an invalidation of
        // the tag would leave it readable for its whole lifetime.
        var inner = new MemoryStore(100_000, TimeProvider.System, RcMetrics.Standalone);
        var store = new HookedStore(inner);
        var keyspace = Keyspace(store, "m:");
        string[] tags = [Tag];
        var key = keyspace.Key("page:1");
        using var watch = Watching(keyspace, tags, key);
        var versions = await keyspace.ReadTagVersionsAsync(tags, CancellationToken.None);
        var since = keyspace.ChangeMark(key);
        store.BeforeFill = async _ =>
        {
            for (var i = 0; i < 3; i++)
            {
                await inner.SetAsync($"m:filler:{i}", new byte[40_000], TimeSpan.FromHours(1), true, CancellationToken.None);
            }
        };

        await FillAsync(keyspace, key, tags, versions, since, asABatchWrites);
        await keyspace.InvalidateTagAsync(Tag, CancellationToken.None);
        Assert.Null(await inner.GetAsync(key, CancellationToken.None));
    }

    [Fact]
    public async Task AMemoryStoreFillWhoseOwnRegistrationFillsTheStore_IsStillWritten()
    {
        // A full store: the fill's registration takes it past its limit. Compacting then would drop the fill's own
        // member, its entry not written yet, and refuse its write; the write compacts instead, the fill's entry kept.
        var time = new ManualTimeProvider();
        var inner = new MemoryStore(10_000, time, RcMetrics.Standalone);
        for (var i = 0; inner.Size < 9_800; i++)
        {
            // Up to 9,880 bytes held (an entry takes 64 bytes, its key and its value), 120 short of the limit: less than
            // the fill's registration adds (a new tag, and its member).
            var key = $"m:filler:{i}";
            await inner.SetAsync(key, new byte[Math.Min(2_000, 9_880 - (int)inner.Size - 64 - (key.Length * 2))], TimeSpan.FromHours(1), true, CancellationToken.None);
        }

        time.Advance(TimeSpan.FromSeconds(1)); // the fillers are older: compaction evicts them first
        var keyspace = new CacheNamespace("default", new HookedStore(inner), "m:", TimeSpan.FromDays(3), TestStores.Options(), time, RcMetrics.Standalone, NullLogger.Instance);
        string[] tags = [Tag];
        var page = keyspace.Key("page:1");
        var versions = await keyspace.ReadTagVersionsAsync(tags, CancellationToken.None);
        var lease = await keyspace.LeaseAsync(page, CacheNamespace.Expectation(null), CancellationToken.None);
        Assert.Equal(9_880, inner.Size);

        await keyspace.FillAsync("page:1", new byte[100], EntryTiming.For(TimeSpan.FromMinutes(5)), tags, versions, keyspace.ChangeMark(page), lease);

        Assert.NotNull(await inner.GetAsync(page, CancellationToken.None));
        await keyspace.InvalidateTagAsync(Tag, CancellationToken.None);
        Assert.Null(await inner.GetAsync(page, CancellationToken.None));
    }

    [Fact]
    public async Task ABatchWithAKeyThatCanHaveNoLease_StillRegistersItsLeasedFillsBeforeTheyWrite()
    {
        // A key with a } and no hash tag of its own can have no lease on Redis (no name shares its slot): with tags, it is
        // answered and not stored (it could not be kept from being readable after an invalidation that came as it wrote),
        // and it must not take the other fills of its flush back to writing before they register.
        var server = await SharedRedis.Single;
        await using var inner = await TestStores.RedisAsync();
        var store = new HookedStore(inner);
        var keyspace = Keyspace(store);
        string[] tags = [Tag];
        string[] keys = [keyspace.Key("odd}key"), keyspace.Key("page:1")];
        using var watch = Watching(keyspace, tags, keys);
        var versions = await keyspace.ReadTagVersionsAsync(tags, CancellationToken.None);
        var leases = await keyspace.LeaseManyAsync(keys, CancellationToken.None);
        Assert.Null(leases![0]);
        Assert.NotNull(leases[1]);
        var readAfterTheFill = new List<byte[]?>();
        store.BeforeFill = async _ => await keyspace.InvalidateTagAsync(Tag, CancellationToken.None);
        store.AfterFill = async _ =>
        {
            foreach (var key in keys)
            {
                readAfterTheFill.Add(await inner.GetAsync(key, CancellationToken.None));
            }
        };
        var timing = EntryTiming.For(TimeSpan.FromMinutes(5));
        await keyspace.SetManyNamespacedAsync(
            [.. keys.Select((key, i) => new PendingWrite(key, "\"before the change\""u8.ToArray(), timing, tags, keyspace.ChangeMark(key), leases[i], CacheNamespace.Expectation(null)))],
            versions,
            replaces: false,
            CancellationToken.None);

        Assert.Equal([null, null], readAfterTheFill);
        Assert.Equal(":0\r\n", await server.CommandAsync("EXISTS", keys[0], keys[1]));

        // The same key filled alone (GetOrSetAsync): no lease, so not stored.
        await keyspace.FillAsync("odd}key", "\"v\""u8.ToArray(), timing, tags, versions, keyspace.ChangeMark(keys[0]), lease: null);
        Assert.Equal(":0\r\n", await server.CommandAsync("EXISTS", keys[0]));
    }

    [Fact]
    public async Task ABatchWhoseRegistrationUnderOneTagFails_StillWritesItsOtherEntries_AndReportsTheFailure()
    {
        await using var inner = await TestStores.RedisAsync();
        var store = new HookedStore(inner) { FailsToRegister = static t => t.Routing.Contains("failing", StringComparison.Ordinal) };
        var keyspace = Keyspace(store);
        string[] keys = [keyspace.Key("tagged"), keyspace.Key("plain")];
        var versions = await keyspace.ReadTagVersionsAsync(["failing"], CancellationToken.None);
        var leases = await keyspace.LeaseManyAsync(keys, CancellationToken.None);
        var timing = EntryTiming.For(TimeSpan.FromMinutes(5));
        byte[] value = "1"u8.ToArray();

        await Assert.ThrowsAsync<RcCacheException>(async () => await keyspace.SetManyNamespacedAsync(
            [
                new PendingWrite(keys[0], value, timing, ["failing"], keyspace.ChangeMark(keys[0]), leases![0], CacheNamespace.Expectation(null)),
                new PendingWrite(keys[1], value, timing, null, keyspace.ChangeMark(keys[1]), leases[1], CacheNamespace.Expectation(null)),
            ],
            versions,
            replaces: false,
            CancellationToken.None));

        Assert.Null(await inner.GetAsync(keys[0], CancellationToken.None));
        Assert.NotNull(await inner.GetAsync(keys[1], CancellationToken.None));
    }

    [Fact]
    public async Task OnRedis_ATagsMembersOutliveTheEntryOfAFillThatWroteLateAfterItsRegistration()
    {
        // The tag's set of members expires with its longest-lived member; a fill counts its member's expiry, registers,
        // then writes, and the entry's lifetime starts then. Had the set expired first, an invalidation in between
        // would have found no set, and left the entry readable.
        var server = await SharedRedis.Single;
        await using var inner = await TestStores.RedisAsync();
        var store = new HookedStore(inner);
        var keyspace = Keyspace(store);
        string[] tags = [Tag];
        var key = keyspace.Key("page:1");
        using var watch = Watching(keyspace, tags, key);
        var versions = await keyspace.ReadTagVersionsAsync(tags, CancellationToken.None);
        store.BeforeFill = static async _ => await Task.Delay(300);
        await FillAsync(keyspace, key, tags, versions, keyspace.ChangeMark(key), asABatchWrites: false);

        // Both lifetimes in one step, so that no pause of this process comes between them.
        var lifetimes = await server.CommandAsync("EVAL", "return {redis.call('pttl', KEYS[1]), redis.call('pttl', KEYS[2])}", "2", keyspace.TagKeys(Tag).Members, key);
        var (members, entry) = ParsePair(lifetimes);
        Assert.True(entry > 0, $"the fill was written: {lifetimes}");
        Assert.True(members >= entry, $"the tag's members set expires in {members} ms, the entry in {entry} ms");
    }

    [Theory]
    [InlineData("memory", false)]
    [InlineData("redis", false)]
    [InlineData("sharded", false)]
    [InlineData("cluster", false)]
    [InlineData("memory", true)]
    [InlineData("redis", true)]
    [InlineData("sharded", true)]
    [InlineData("cluster", true)]
    public async Task AnInvalidationThatReturnsJustBeforeAFillWrites_LeavesNothingToRead(string kind, bool asABatchWrites)
    {
        await using var inner = kind switch
        {
            "memory" => TestStores.Memory(TimeProvider.System),
            "redis" => await TestStores.RedisAsync(),
            "sharded" => await TestStores.ShardedAsync(RcRouterKind.Crc32),
            _ => await TestStores.ClusterAsync(),
        };
        var store = new HookedStore(inner);
        var keyspace = Keyspace(store);
        string[] tags = [Tag];
        var key = keyspace.Key("page:1");

        // What a load does before its factory runs, after a miss: it watches the key, reads the tags' versions, takes its
        // change mark and its lease. The application then changes the post and invalidates its tag, and that call has
        // returned by the time the fill's write is sent: a read from then on must not find what the factory computed.
        using var watch = Watching(keyspace, tags, key);
        var versions = await keyspace.ReadTagVersionsAsync(tags, CancellationToken.None);
        var since = keyspace.ChangeMark(key);
        var invalidated = false;
        byte[]? readAfterTheFill = [];
        store.BeforeFill = async _ =>
        {
            await keyspace.InvalidateTagAsync(Tag, CancellationToken.None);
            invalidated = true;
        };
        store.AfterFill = async written => readAfterTheFill = await inner.GetAsync(written, CancellationToken.None);

        await FillAsync(keyspace, key, tags, versions, since, asABatchWrites);

        Assert.True(invalidated);
        Assert.Null(readAfterTheFill);
        Assert.Null(await inner.GetAsync(key, CancellationToken.None));
    }

    /// <summary>What a load does once its factory returned, after a miss: it takes the key's lease and writes under it.</summary>
    private static async Task FillAsync(CacheNamespace keyspace, string key, string[] tags, TagVersions versions, long since, bool asABatchWrites)
    {
        byte[] value = "\"before the change\""u8.ToArray();
        var timing = EntryTiming.For(TimeSpan.FromMinutes(5));
        if (asABatchWrites)
        {
            // An IRcBatch flush: leases of its misses in one round trip, their fills written together.
            var token = (await keyspace.LeaseManyAsync([key], CancellationToken.None))?.Single();
            Assert.NotNull(token);
            await keyspace.SetManyNamespacedAsync([new PendingWrite(key, value, timing, tags, since, token, CacheNamespace.Expectation(null))], versions, replaces: false, CancellationToken.None);
        }
        else
        {
            var lease = await keyspace.LeaseAsync(key, CacheNamespace.Expectation(null), CancellationToken.None);
            Assert.NotNull(lease);
            await keyspace.FillAsync(key[keyspace.Prefix.Length..], value, timing, tags, versions, since, lease);
        }
    }

    /// <summary>The two integers of a RESP array reply (<c>*2 :a :b</c>).</summary>
    private static (long First, long Second) ParsePair(string reply)
    {
        var numbers = reply.Split("\r\n").Where(static l => l.StartsWith(':')).Select(static l => long.Parse(l[1..], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        return (numbers[0], numbers[1]);
    }

    /// <summary>The default cache's namespace over <paramref name="store"/>, as AddRcCache makes it.</summary>
    private static CacheNamespace Keyspace(HookedStore store, string? prefix = null) =>
        new("default", store, prefix ?? SharedRedis.UniqueNamespace(), TimeSpan.FromDays(3), TestStores.Options(), TimeProvider.System, RcMetrics.Standalone, NullLogger.Instance);

    /// <summary>What a load does as it begins: it watches its keys (and their tags) until it has written; disposing unwatches.</summary>
    private static Watch Watching(CacheNamespace keyspace, string[] tags, params string[] keys)
    {
        foreach (var key in keys)
        {
            keyspace.Watch(key, tags);
        }

        return new Watch(keyspace, tags, keys);
    }

    private sealed class Watch(CacheNamespace keyspace, string[] tags, string[] keys) : IDisposable
    {
        public void Dispose()
        {
            foreach (var key in keys)
            {
                keyspace.Unwatch(key, tags);
            }
        }
    }
}
