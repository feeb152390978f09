using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Caching;
using RcAspNet.Stores;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Caching;

/// <summary>Tags of the typed cache (<see cref="RcEntryOptions.Tags"/>, <see cref="IRcCache.InvalidateTagAsync"/>), run against every store.</summary>
public abstract class TagContractTests : StoreNodesTest
{
    protected IRcCache Cache => Node(0);

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        AddNode();
    }

    protected override void Configure(RcOptions options)
    {
        options.FailureMode = RcFailureMode.Throw;
        options.OperationTimeout = TimeSpan.FromSeconds(10);
    }

    protected IRcCache Node(int index)
    {
        if (!HasOtherNodes)
        {
            index = 0;
        }

        while (Nodes.Count <= index)
        {
            AddNode();
        }

        return Nodes[index].GetRequiredService<IRcCache>();
    }

    /// <summary>A node of its own, whose clock is <paramref name="clock"/> (the memory store's entries live by it too).</summary>
    protected IRcCache NodeWith(TimeProvider clock) => AddNode(clock).GetRequiredService<IRcCache>();

    private static RcEntryOptions Tagged(params string[] tags) => new() { Tags = tags, Expiration = TimeSpan.FromMinutes(10) };

    [Fact]
    public async Task InvalidateTag_RemovesEveryEntryThatCarriesIt_AndNoOther()
    {
        var tagged = Enumerable.Range(0, 40).Select(static i => $"post:{i}").ToArray();
        await Cache.SetManyAsync(tagged.Select(static k => new KeyValuePair<string, string>(k, k)).ToArray(), Tagged("posts"));
        await Cache.SetAsync("other", "untagged");
        await Cache.SetAsync("elsewhere", "other tag", Tagged("comments"));

        Assert.Equal(new RcRemovalResult(40, 0), await Cache.InvalidateTagAsync("posts"));

        Assert.All(await Cache.GetManyAsync<string>(tagged), Assert.Null);
        Assert.Equal("untagged", await Cache.GetAsync<string>("other"));
        Assert.Equal("other tag", await Cache.GetAsync<string>("elsewhere"));
        Assert.Equal(new RcRemovalResult(0, 0), await Cache.InvalidateTagAsync("posts"));
    }

    [Fact]
    public async Task ARemovalWhoseCallerHasGivenUp_StillRemoves()
    {
        // A request aborted after its database write, say: its token is cancelled before the cache hears of the change.
        await Cache.SetManyAsync<string>([new("one", "1"), new("two", "2"), new("three", "3")]);
        await Cache.SetManyAsync<string>([new("post:1", "p1"), new("post:2", "p2")], Tagged("posts"));
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await EndsOrIsCancelledAsync(() => Cache.DeleteAsync("one", cancelled.Token));
        await EndsOrIsCancelledAsync(() => Cache.DeleteManyAsync(["two", "three"], cancelled.Token));
        await EndsOrIsCancelledAsync(() => Cache.InvalidateTagAsync("posts", cancelled.Token));

        // Read by another node, which keeps no removal of its own: what the servers hold. This node may hold a server
        // out of service until a kept removal is delivered, and with FailureMode=Throw its calls throw meanwhile.
        string[] removed = ["one", "two", "three", "post:1", "post:2"];
        await Eventually.TrueAsync(async () => (await Node(1).GetManyAsync<string>(removed)).All(static v => v is null));
        await Eventually.TrueAsync(async () => await ServesAsync(async () => Assert.All(await Cache.GetManyAsync<string>(removed), Assert.Null)));

        await Eventually.TrueAsync(async () => await ServesAsync(async () => await Cache.SetAsync("four", "4")));
        await EndsOrIsCancelledAsync(() => Cache.ClearAsync(cancelled.Token));
        await Eventually.TrueAsync(async () => await Node(1).GetAsync<string>("four") is null);

        static async Task<bool> ServesAsync(Func<Task> call)
        {
            try
            {
                await call();
                return true;
            }
            catch (RcCacheException)
            {
                return false;
            }
        }

        static async Task EndsOrIsCancelledAsync(Func<ValueTask<RcRemovalResult>> removal)
        {
            try
            {
                await removal();
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    [Fact]
    public async Task InvalidateTag_RemovesEntriesOtherNodesWrote()
    {
        if (!HasOtherNodes)
        {
            return;
        }

        await Node(1).SetAsync("from-1", 1, Tagged("shared"));
        await Node(2).GetOrSetAsync("from-2", static _ => ValueTask.FromResult(2), Tagged("shared"));
        Assert.Equal(new RcRemovalResult(2, 0), await Node(0).InvalidateTagAsync("shared"));
        Assert.Null(await Node(1).GetAsync<int?>("from-1"));
        Assert.Null(await Node(2).GetAsync<int?>("from-2"));
    }

    [Fact]
    public async Task AnEntryWrittenByANodeWhoseClockIsBehind_StillGoesWithItsTag()
    {
        if (!HasOtherNodes)
        {
            return;
        }

        // A member's score is its expiry by its writer's clock; another node, two minutes ahead, registers another
        // entry of the tag while the first one still lives.
        await Cache.SetAsync("behind", 1, new RcEntryOptions { Tags = ["skewed"], Expiration = TimeSpan.FromMinutes(1) });
        await NodeWith(new ManualTimeProvider(DateTimeOffset.UtcNow + TimeSpan.FromMinutes(2))).SetAsync("ahead", 2, Tagged("skewed"));
        Assert.Equal(new RcRemovalResult(2, 0), await Cache.InvalidateTagAsync("skewed"));
        Assert.Null(await Cache.GetAsync<int?>("behind"));
        Assert.Null(await Cache.GetAsync<int?>("ahead"));
    }

    [Fact]
    public async Task ATouchedEntry_StillGoesWithItsTag_AfterTheLifetimeItWasWrittenWith()
    {
        var clock = new ManualTimeProvider(DateTimeOffset.UtcNow);
        var node = NodeWith(clock);
        await node.SetAsync("touched", 1, new RcEntryOptions { Tags = ["touched"], Expiration = TimeSpan.FromMinutes(1) });
        Assert.True(await node.TouchAsync("touched", TimeSpan.FromHours(1)));

        // Ten minutes on, another entry of the tag is registered (which prunes members whose lifetime ended).
        clock.Advance(TimeSpan.FromMinutes(10));
        Assert.Equal(1, await node.GetAsync<int?>("touched"));
        await node.SetAsync("later", 2, Tagged("touched"));
        Assert.Equal(new RcRemovalResult(2, 0), await node.InvalidateTagAsync("touched"));
        Assert.Null(await node.GetAsync<int?>("touched"));
    }

    [Fact]
    public async Task EntryWithSeveralTags_GoesWithAnyOfThem()
    {
        await Cache.SetAsync("a", 1, Tagged("x", "y"));
        await Cache.SetAsync("b", 2, Tagged("y"));
        Assert.Equal(new RcRemovalResult(1, 0), await Cache.InvalidateTagAsync("x"));
        Assert.Null(await Cache.GetAsync<int?>("a"));
        Assert.Equal(2, await Cache.GetAsync<int?>("b"));
    }

    [Fact]
    public async Task GetOrSet_WithTags_RunsTheFactoryAgainAfterTheTagIsInvalidated()
    {
        var runs = 0;
        ValueTask<int> Factory(CancellationToken _) => ValueTask.FromResult(++runs);
        Assert.Equal(1, await Cache.GetOrSetAsync("counted", Factory, Tagged("t")));
        Assert.Equal(1, await Cache.GetOrSetAsync("counted", Factory, Tagged("t")));
        await Cache.InvalidateTagAsync("t");
        Assert.Equal(2, await Cache.GetOrSetAsync("counted", Factory, Tagged("t")));
    }

    [Fact]
    public async Task TagInvalidatedWhileTheFactoryRuns_LeavesNoStaleEntry()
    {
        var data = 1;
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var load = Cache.GetOrSetAsync("raced", async _ =>
        {
            var read = data;
            entered.SetResult();
            await release.Task;
            return read;
        }, Tagged("race")).AsTask();

        await entered.Task.WaitAsync(TimeSpan.FromSeconds(30));
        data = 2;
        await Node(1).InvalidateTagAsync("race");
        release.SetResult();
        Assert.Equal(1, await load);

        Assert.Null(await Cache.GetAsync<int?>("raced"));
        Assert.Equal(2, await Cache.GetOrSetAsync("raced", _ => ValueTask.FromResult(data), Tagged("race")));
    }

    [Fact]
    public async Task WritesRacingInvalidations_NeverLeaveAStaleEntryReadable()
    {
        // Writers load the current version of some data and cache it; an updater changes the data and invalidates the
        // tag. Whatever the interleaving, once both have returned the cache holds nothing, or the current version.
        var data = 0;
        for (var round = 0; round < 60; round++)
        {
            var key = $"round:{round % 6}";
            var writers = Enumerable.Range(0, 3).Select(w => Task.Run(async () =>
                await Node(w % 2).GetOrSetAsync(key, async _ =>
                {
                    var read = Volatile.Read(ref data);
                    await Task.Yield();
                    return read;
                }, Tagged("rounds")))).ToArray();
            var updater = Task.Run(async () =>
            {
                Interlocked.Increment(ref data);
                await Node(1).InvalidateTagAsync("rounds");
            });
            await Task.WhenAll([.. writers, updater]);

            var cached = await Cache.GetAsync<int?>(key);
            Assert.True(cached is null || cached == Volatile.Read(ref data), $"round {round}: the cache holds version {cached} after version {data} was written and its tag invalidated");
        }
    }

    /// <summary>
    /// A clear that deleted a tag's members set would lose what another node registered in it meanwhile: an entry that
    /// node wrote after the clear passed its key, which the tag's next invalidation must still find. The clear runs
    /// over many entries; each tagged entry is written again at its own moment of the clear (spread over half of how long
    /// a first clear of as many entries took, so that most land while it runs), under a tag of its own. The memory
    /// store clears in one step under its locks, so there the writes follow it.
    /// </summary>
    [Fact]
    public async Task TaggedWritesDuringAClear_AreFoundByTheirTagsNextInvalidation()
    {
        const int Tags = 40;
        var tagged = Enumerable.Range(0, Tags).Select(static i => $"tagged:{i}").ToArray();
        async Task FillAsync()
        {
            foreach (var chunk in Enumerable.Range(0, 20_000).Select(static i => new KeyValuePair<string, string>($"filler:{i}", "x")).Chunk(1000))
            {
                await Cache.SetManyAsync(chunk, new RcEntryOptions { Expiration = TimeSpan.FromMinutes(10) });
            }

            for (var i = 0; i < Tags; i++)
            {
                await Cache.SetAsync(tagged[i], "before", Tagged($"t{i}"));
            }
        }

        // A first clear compiles the clear's code (and the racing node connects); a second one is timed.
        await FillAsync();
        await Cache.ClearAsync();
        await Node(1).GetAsync<string>(tagged[0]);
        await FillAsync();
        var timed = System.Diagnostics.Stopwatch.StartNew();
        await Cache.ClearAsync();
        var length = timed.Elapsed;

        // A pause of a loaded machine can make the timed clear slow and the raced one quick: the race is run again
        // until enough of its writes began while the clear ran. Every run's writes must be found by their tags.
        var raced = 0;
        for (var run = 0; run < 5 && raced < Tags / 4; run++)
        {
            await FillAsync();
            var started = System.Diagnostics.Stopwatch.StartNew();
            var clear = Cache.ClearAsync().AsTask();
            var during = 0;
            for (var i = 0; i < Tags; i++)
            {
                var at = length * (i + 0.5) / (2 * Tags);
                if (started.Elapsed < at)
                {
                    await Task.Delay(at - started.Elapsed);
                }

                during += clear.IsCompleted ? 0 : 1;
                await Node(1).SetAsync(tagged[i], "during", Tagged($"t{i}"));
            }

            await clear;
            raced = Math.Max(raced, during);

            // The next run, if one is needed, spaces its writes over this clear's own length.
            length = started.Elapsed;
            for (var i = 0; i < Tags; i++)
            {
                await Cache.InvalidateTagAsync($"t{i}");
            }

            Assert.All(await Cache.GetManyAsync<string>(tagged), Assert.Null);
            if (Nodes[0].GetRequiredService<CacheRegistry>().Stores[0] is MemoryStore)
            {
                // The memory store clears in one step under its locks: there is nothing to race.
                return;
            }
        }

        Assert.True(raced >= Tags / 4, $"At most {raced} of {Tags} writes began while a clear ran, in five runs: the test did not race it.");
    }

    [Fact]
    public async Task TaggedEntriesOfAnotherNamespace_AreNotTouched()
    {
        await using var other = TestServices.Build(o =>
        {
            Store(o);
            o.Namespace = SharedRedis.UniqueNamespace();
        });
        var otherCache = other.GetRequiredService<IRcCache>();
        await otherCache.SetAsync("k", 1, Tagged("same"));
        await Cache.SetAsync("k", 2, Tagged("same"));
        Assert.Equal(new RcRemovalResult(1, 0), await Cache.InvalidateTagAsync("same"));
        Assert.Equal(1, await otherCache.GetAsync<int?>("k"));
    }

    [Fact]
    public async Task AKeysLongestRegistrationUnderATag_Counts_InWhateverOrderRegistrationsCame()
    {
        // Two writes of one key whose registrations under the tag came in the other order than their values: the value
        // that lives an hour registered first, one that expired long ago (past any pruning margin) after it.
        var registry = Nodes[0].GetRequiredService<CacheRegistry>();
        var store = registry.Stores[0];
        var tag = registry.Default.Keyspace.TagKeys("order");
        var key = registry.Default.NamespacedKey("k");
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await store.TagAsync(tag, [new TagMember(key, now + (long)TimeSpan.FromHours(1).TotalMilliseconds)], null, CancellationToken.None);
        await store.TagAsync(tag, [new TagMember(key, now - (long)TimeSpan.FromMinutes(10).TotalMilliseconds)], null, CancellationToken.None);
        await store.SetAsync(key, "1"u8.ToArray(), TimeSpan.FromHours(1), replaces: true, CancellationToken.None);

        // A later registration prunes what expired; the key's hour-long registration must not be among it.
        await store.TagAsync(tag, [new TagMember(registry.Default.NamespacedKey("other"), now + (long)TimeSpan.FromHours(1).TotalMilliseconds)], null, CancellationToken.None);
        Assert.Equal(1, await Cache.GetAsync<int?>("k"));
        await Cache.InvalidateTagAsync("order");
        Assert.Null(await Cache.GetAsync<int?>("k"));
    }

    [Fact]
    public async Task Tag_EmptyTooLongOrWithALoneSurrogate_IsAnArgumentError()
    {
        Assert.Equal("tag", (await Assert.ThrowsAsync<ArgumentException>(async () => await Cache.InvalidateTagAsync(""))).ParamName);
        Assert.Equal("tag", (await Assert.ThrowsAsync<ArgumentException>(async () => await Cache.InvalidateTagAsync(new string('t', 5000)))).ParamName);
        Assert.Equal("tag", (await Assert.ThrowsAsync<ArgumentException>(async () => await Cache.InvalidateTagAsync("post:\uD800"))).ParamName);
    }
}

public sealed class MemoryTagTests : TagContractTests
{
    protected override bool HasOtherNodes => false;

    protected override Task<Action<RcOptions>> StoreAsync() => SharedStores.Memory();

    /// <summary>An entry records each tag's UTF-8 length in two bytes: a longer tag is refused by that rule, never written.</summary>
    [Fact]
    public async Task ATagLongerThanAnEntryRecords_IsAnArgumentErrorThatNamesTheRule()
    {
        await using var services = TestServices.Build(static o => (o.Store, o.MaximumKeyLength) = (RcStoreKind.Memory, 30_000));
        var cache = services.GetRequiredService<IRcCache>();
        var tag = new string('\u4e2d', 22_000); // 22,000 characters, 66,000 bytes in UTF-8

        var write = await Assert.ThrowsAsync<ArgumentException>(async () => await cache.SetAsync("k", 1, new RcEntryOptions { Tags = [tag] }));
        Assert.Contains("65535 bytes", write.Message, StringComparison.Ordinal);
        Assert.Equal("tag", (await Assert.ThrowsAsync<ArgumentException>(async () => await cache.InvalidateTagAsync(tag))).ParamName);
        Assert.False(await cache.ExistsAsync("k"));
    }
}

public sealed class RedisTagTests : TagContractTests
{
    protected override Task<Action<RcOptions>> StoreAsync() => SharedStores.RedisAsync();

    [Fact]
    public async Task TagBookkeeping_ExpiresWithItsLongestLivedEntry_AndThePruneMargin()
    {
        // A member outlives its score by the prune margin, and so does the set: a fill registers before it writes, so its
        // entry's lifetime starts a little after its score was counted.
        var server = await SharedRedis.Single;
        await Cache.SetAsync("short", 1, new RcEntryOptions { Tags = ["kept"], Expiration = TimeSpan.FromMinutes(1) });
        await Cache.SetAsync("long", 1, new RcEntryOptions { Tags = ["kept"], Expiration = TimeSpan.FromMinutes(5) });
        await Cache.SetAsync("shorter", 1, new RcEntryOptions { Tags = ["kept"], Expiration = TimeSpan.FromMinutes(2) });
        var pttl = long.Parse((await server.CommandAsync("PTTL", Ns + "{rc-tag:kept}:keys")).Trim(':', '\r', '\n'), CultureInfo.InvariantCulture);
        var longest = TimeSpan.FromMinutes(5) + TagKeys.PruneMargin;
        Assert.InRange(pttl, (long)(longest - TimeSpan.FromMinutes(1)).TotalMilliseconds, (long)longest.TotalMilliseconds);
        Assert.Equal(":3\r\n", await server.CommandAsync("ZCARD", Ns + "{rc-tag:kept}:keys"));
    }
}

public sealed class ShardedTagTests : TagContractTests
{
    protected override Task<Action<RcOptions>> StoreAsync() => SharedStores.ShardedAsync();
}

public sealed class ClusterTagTests : TagContractTests
{
    protected override Task<Action<RcOptions>> StoreAsync() => SharedStores.ClusterAsync();
}
