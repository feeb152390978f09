using RcAspNet.Diagnostics;
using RcAspNet.Stores;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Stores;

public sealed class MemoryStoreTests
{
    private static readonly TimeSpan Long = TimeSpan.FromHours(1);

    [Fact]
    public async Task SizeLimit_IsNeverExceededAfterAWrite()
    {
        var time = new ManualTimeProvider();
        var store = new MemoryStore(100_000, time, RcMetrics.Standalone);
        for (var i = 0; i < 500; i++)
        {
            await store.SetAsync($"k{i}", new byte[1000], Long, true, default);
            Assert.InRange(store.Size, 0, 100_000);
        }

        Assert.InRange(store.Count, 50, 100);
    }

    [Fact]
    public async Task Eviction_DropsTheLeastRecentlyReadFirst()
    {
        var time = new ManualTimeProvider();
        var store = new MemoryStore(20_000, time, RcMetrics.Standalone);
        for (var i = 0; i < 15; i++)
        {
            await store.SetAsync($"k{i}", new byte[1000], Long, true, default);
            time.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.NotNull(await store.GetAsync("k0", default));
        time.Advance(TimeSpan.FromSeconds(1));
        for (var i = 15; i < 25; i++)
        {
            await store.SetAsync($"k{i}", new byte[1000], Long, true, default);
        }

        Assert.NotNull(await store.GetAsync("k0", default));
        Assert.Null(await store.GetAsync("k1", default));
        Assert.NotNull(await store.GetAsync("k24", default));
    }

    [Fact]
    public async Task Eviction_DropsExpiredEntriesBeforeLiveOnes()
    {
        var time = new ManualTimeProvider();
        var store = new MemoryStore(20_000, time, RcMetrics.Standalone);
        for (var i = 0; i < 10; i++)
        {
            await store.SetAsync($"short{i}", new byte[1000], TimeSpan.FromSeconds(1), true, default);
        }

        await store.SetAsync("live", new byte[1000], Long, true, default);
        time.Advance(TimeSpan.FromSeconds(2));
        for (var i = 0; i < 10; i++)
        {
            await store.SetAsync($"new{i}", new byte[1000], Long, true, default);
        }

        Assert.NotNull(await store.GetAsync("live", default));
        Assert.InRange(store.Count, 11, 11);
    }

    [Fact]
    public async Task ValueLargerThanTheStore_IsNotStoredAndRemovesTheOldValue()
    {
        var store = new MemoryStore(10_000, new ManualTimeProvider(), RcMetrics.Standalone);
        await store.SetAsync("big", [1], Long, true, default);
        await store.SetAsync("big", new byte[20_000], Long, true, default);
        Assert.Null(await store.GetAsync("big", default));
        Assert.Equal(0, store.Size);
    }

    [Fact]
    public async Task ValueLargerThanWhatCompactionLeaves_IsNotStored_AndEvictsNothingElse()
    {
        var store = new MemoryStore(100_000, new ManualTimeProvider(), RcMetrics.Standalone);
        await store.SetAsync("small", [1], Long, true, default);
        Assert.False(await store.SetAsync("big", new byte[95_000], Long, true, default));
        Assert.Null(await store.GetAsync("big", default));
        Assert.NotNull(await store.GetAsync("small", default));
    }

    [Fact]
    public async Task AddOfAValueLargerThanTheStore_LeavesTheValueThere()
    {
        var store = new MemoryStore(10_000, new ManualTimeProvider(), RcMetrics.Standalone);
        await store.SetAsync("k", [1], Long, true, default);
        Assert.False(await store.AddAsync("k", new byte[20_000], Long, default));
        Assert.Equal([1], (await store.GetAsync("k", default))!);
    }

    [Fact]
    public async Task TagMembersOfEvictedEntries_DoNotCrowdOutTheStore()
    {
        var time = new ManualTimeProvider();
        var store = new MemoryStore(100_000, time, RcMetrics.Standalone);
        var tag = new TagKeys("t:version", "t:keys", "t");
        var expires = time.GetUtcNow().ToUnixTimeMilliseconds() + (long)Long.TotalMilliseconds;
        for (var i = 0; i < 5_000; i++)
        {
            // Stored, then registered under the tag, as a tagged write does; most are evicted along the way.
            var key = $"tagged:{i:D6}";
            await store.SetAsync(key, new byte[100], Long, true, default);
            await store.TagAsync(tag, [new TagMember(key, expires)], null, default);
        }

        await store.SetAsync("plain", [1], Long, true, default);
        Assert.NotNull(await store.GetAsync("plain", default));
        Assert.InRange(store.Count, 100, 1_000);

        // The registrations of entries still there remain: invalidating the tag removes them.
        Assert.Equal(store.Count - 1, (await store.InvalidateTagAsync(tag, default)).Removed);
    }

    [Fact]
    public async Task ATagMemberWhoseExpiryWasCountedBeforeItsEntryWasStored_IsStillInvalidatedWhileTheEntryLives()
    {
        // A tagged write counts its member's expiry, then stores: a pause in between puts the member's expiry before
        // the entry's. Another write's registration must not prune it while the entry lives, or an invalidation of the
        // tag misses the entry.
        var time = new ManualTimeProvider();
        var store = new MemoryStore(1_000_000, time, RcMetrics.Standalone);
        var tag = new TagKeys("t:version", "t:keys", "t");
        var lifetime = TimeSpan.FromMilliseconds(100);
        var counted = time.GetUtcNow().ToUnixTimeMilliseconds() + (long)lifetime.TotalMilliseconds;
        time.Advance(TimeSpan.FromMilliseconds(50));
        await store.SetAsync("paused", [1], lifetime, true, default);
        await store.TagAsync(tag, [new TagMember("paused", counted)], null, default);

        time.Advance(TimeSpan.FromMilliseconds(70)); // past the member's counted expiry, before the entry's
        await store.TagAsync(tag, [new TagMember("other", time.GetUtcNow().ToUnixTimeMilliseconds() + 60_000)], null, default);
        Assert.NotNull(await store.GetAsync("paused", default));

        await store.InvalidateTagAsync(tag, default);
        Assert.Null(await store.GetAsync("paused", default));
    }

    [Fact]
    public async Task InvalidationsOfTagsThatTagNothing_StayWithinTheSizeLimit()
    {
        // An application that invalidates "user:{id}" on every update, whatever is cached: each invalidation makes a
        // tag with a version, which the store kept, uncounted, for as long as it ran under its limit.
        var store = new MemoryStore(1_000_000, new ManualTimeProvider(), RcMetrics.Standalone);
        for (var i = 0; i < 100_000; i++)
        {
            await store.InvalidateTagAsync(new TagKeys($"user:{i}:version", $"user:{i}:keys", $"{{rc-tag:user:{i}}}"), default);
        }

        Assert.InRange(store.Size, 0, 1_000_000);
        Assert.InRange(store.TagCount, 1, 10_000);
    }

    [Fact]
    public async Task ATagDroppedToMakeRoom_RefusesTheRegistrationOfAFillThatReadItBefore()
    {
        // Dropping the tag forgets its version: a fill that read the tag before its invalidation must still find it
        // changed, and not be written.
        var store = new MemoryStore(100_000, new ManualTimeProvider(), RcMetrics.Standalone);
        var post = new TagKeys("post:version", "post:keys", "{rc-tag:post}");
        var beforeInvalidation = (await store.GetTagVersionsAsync([post], default))[0];
        await store.InvalidateTagAsync(post, default);
        Assert.NotEqual(beforeInvalidation, (await store.GetTagVersionsAsync([post], default))[0]);

        for (var i = 0; store.TagCount > 0 && i < 10_000; i++)
        {
            await store.SetAsync($"filler:{i}", new byte[1_000], Long, true, default);
        }

        Assert.Equal(0, store.TagCount);
        Assert.False(await store.TagAsync(post, [new TagMember("page:1", long.MaxValue / 2)], beforeInvalidation, default));
    }

    [Fact]
    public async Task ATagDroppedToMakeRoom_DoesNotRefuseTheFillsOfTagsOfAnotherStripe()
    {
        var store = new MemoryStore(100_000, new ManualTimeProvider(), RcMetrics.Standalone);
        var post = new TagKeys("post:version", "post:keys", "{rc-tag:post}");
        var other = Enumerable.Range(0, 100).Select(static i => new TagKeys($"o{i}:version", $"o{i}:keys", $"{{rc-tag:o{i}}}"))
            .First(t => MemoryStore.AbsentStripe(t.Routing) != MemoryStore.AbsentStripe(post.Routing));
        var read = (await store.GetTagVersionsAsync([post], default))[0];
        await store.InvalidateTagAsync(other, default);
        for (var i = 0; store.TagCount > 0 && i < 10_000; i++)
        {
            await store.SetAsync($"filler:{i}", new byte[1_000], Long, true, default);
        }

        Assert.Equal(0, store.TagCount);
        Assert.True(await store.TagAsync(post, [new TagMember("page:1", long.MaxValue / 2)], read, default));
    }

    [Fact]
    public async Task Set_CopiesTheCallersArray()
    {
        var store = new MemoryStore(10_000, new ManualTimeProvider(), RcMetrics.Standalone);
        var value = new byte[] { 1, 2 };
        await store.SetAsync("copy", value, Long, true, default);
        value[0] = 9;
        Assert.Equal([1, 2], (await store.GetAsync("copy", default))!);
    }
}
