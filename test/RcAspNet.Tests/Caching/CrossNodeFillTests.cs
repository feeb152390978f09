using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Caching;

/// <summary>
/// A load's write never undoes what another app instance did while its factory ran: a removal (the key's fill lease,
/// revoked by every removal and checked by the write in the same step), or a value written since the load's read. Run
/// against every store; the memory store belongs to one process, so its "nodes" are one.
/// </summary>
public abstract class CrossNodeFillTests : StoreNodesTest
{
    protected override void Configure(RcOptions options) => options.OperationTimeout = TimeSpan.FromSeconds(10);

    /// <summary>A node whose clock is <paramref name="clock"/> (the system's when null); with no other nodes, the first.</summary>
    protected IRcCache Node(TimeProvider? clock = null) =>
        (!HasOtherNodes && Nodes.Count > 0 ? Nodes[0] : AddNode(clock)).GetRequiredService<IRcCache>();

    [Fact]
    public async Task ARemovalWhileAnotherNodesFactoryRuns_IsNotUndoneByItsWrite()
    {
        var (loader, other) = (Node(), Node());
        var load = await StartLoadAsync(loader, "post", "read before the change");

        await other.DeleteAsync("post");
        Assert.Equal("read before the change", await load.FinishAsync());

        Assert.Null(await other.GetAsync<string>("post"));
        Assert.Null(await loader.GetAsync<string>("post"));
    }

    [Fact]
    public async Task AClearWhileAnotherNodesFactoryRuns_IsNotUndoneByItsWrite()
    {
        var (loader, other) = (Node(), Node());
        var load = await StartLoadAsync(loader, "post", "read before the change");

        await other.ClearAsync();
        Assert.Equal("read before the change", await load.FinishAsync());

        Assert.Null(await other.GetAsync<string>("post"));
    }

    [Fact]
    public async Task AValueWrittenWhileAnotherNodesFactoryRuns_Stays()
    {
        var (loader, other) = (Node(), Node());
        var load = await StartLoadAsync(loader, "post", "read before the change");

        await other.SetAsync("post", "written meanwhile");
        Assert.Equal("read before the change", await load.FinishAsync());

        Assert.Equal("written meanwhile", await other.GetAsync<string>("post"));
    }

    [Fact]
    public async Task ARemovalWhileAnotherNodeRefreshesAStaleEntry_IsNotUndone()
    {
        var (load, other) = await StartRefreshAsync("read before the change");

        await other.DeleteAsync("post");
        Assert.Equal("read before the change", await load.FinishAsync());

        Assert.Null(await other.GetAsync<string>("post"));
    }

    [Fact]
    public async Task AValueWrittenWhileAnotherNodeRefreshesAStaleEntry_Stays()
    {
        var (load, other) = await StartRefreshAsync("read before the change");

        await other.SetAsync("post", "written meanwhile", FailSafe);
        Assert.Equal("read before the change", await load.FinishAsync());

        Assert.Equal("written meanwhile", await other.GetAsync<string>("post"));
    }

    [Fact]
    public async Task AValueWrittenWhileAnotherNodeReplacesAnEntryItCouldNotRead_Stays()
    {
        // The loader reads a Post where another app version stored a string: not a value of its type, so it loads one.
        var (loader, other) = (Node(), Node());
        await other.SetAsync("post", "not a post");
        var load = await StartLoadAsync(loader, "post", new Post(1));

        await other.SetAsync("post", new Post(2));
        Assert.Equal(new Post(1), await load.FinishAsync());

        Assert.Equal(new Post(2), await other.GetAsync<Post>("post"));
    }

    [Fact]
    public async Task ALoadOverAnEntryItCouldNotRead_StoresItsValue()
    {
        var (loader, other) = (Node(), Node());
        await other.SetAsync("post", "not a post");
        Assert.Equal(new Post(1), await loader.GetOrSetAsync("post", _ => ValueTask.FromResult(new Post(1))));
        Assert.Equal(new Post(1), await other.GetAsync<Post>("post"));
    }

    [Fact]
    public async Task ARefreshWithNothingInItsWay_StoresItsValue()
    {
        var (load, other) = await StartRefreshAsync("refreshed");
        Assert.Equal("refreshed", await load.FinishAsync());

        Assert.Equal("refreshed", await other.GetAsync<string>("post"));
    }

    [Fact]
    public async Task ALoadWithNothingInItsWay_StoresItsValue_AndLeavesNoLease()
    {
        var (loader, other) = (Node(), Node());
        Assert.Equal("loaded", await loader.GetOrSetAsync("post", _ => ValueTask.FromResult("loaded")));
        Assert.Equal("loaded", await other.GetAsync<string>("post"));

        // The lease goes with the write: a removal after it finds nothing to revoke, and a later load takes a new one.
        await other.DeleteAsync("post");
        Assert.Equal("again", await loader.GetOrSetAsync("post", _ => ValueTask.FromResult("again")));
        Assert.Equal("again", await other.GetAsync<string>("post"));
    }

    [Fact]
    public async Task ARemovalWhileAnotherNodesBatchLoads_IsNotUndoneByItsWrite()
    {
        var (loader, other) = (Node(), Node());
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var provider = Nodes[0];
        await using var scope = provider.CreateAsyncScope();
        var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
        var promise = batch.Load("batched", async _ =>
        {
            entered.TrySetResult();
            await release.Task;
            return "read before the change";
        });
        var flush = batch.FlushAsync();
        await entered.Task.WaitAsync(TimeSpan.FromSeconds(30));

        await other.DeleteAsync("batched");
        release.SetResult();
        await flush;

        Assert.Equal("read before the change", promise.Value);
        Assert.Null(await other.GetAsync<string>("batched"));
        Assert.Null(await loader.GetAsync<string>("batched"));
    }

    public sealed record Post(int Id);

    private static readonly RcEntryOptions FailSafe = new() { Expiration = TimeSpan.FromMinutes(1), FailSafeMaxDuration = TimeSpan.FromHours(1) };

    /// <summary>
    /// Writes an entry on a node whose clock then moves past its freshness, within its fail-safe window, and starts that
    /// node's load of a new value (<paramref name="value"/>); returns the load once its factory runs, and another node.
    /// </summary>
    private async Task<(BlockedLoad<string> Load, IRcCache Other)> StartRefreshAsync(string value)
    {
        var clock = new ManualTimeProvider(DateTimeOffset.UtcNow);
        var (loader, other) = (Node(clock), Node());
        await loader.SetAsync("post", "first", FailSafe);
        clock.Advance(TimeSpan.FromMinutes(2));
        return (await StartLoadAsync(loader, "post", value, FailSafe), other);
    }

    /// <summary>Starts a load of <paramref name="key"/> on <paramref name="node"/>, and returns once its factory runs.</summary>
    private static async Task<BlockedLoad<T>> StartLoadAsync<T>(IRcCache node, string key, T value, RcEntryOptions? options = null)
    {
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var load = node.GetOrSetAsync(
            key,
            async _ =>
            {
                entered.TrySetResult();
                await release.Task;
                return value;
            },
            options).AsTask();
        await Task.WhenAny(entered.Task, load).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(entered.Task.IsCompleted, "The factory did not run.");
        return new BlockedLoad<T>(release, load);
    }

    private sealed record BlockedLoad<T>(TaskCompletionSource Release, Task<T> Load)
    {
        public Task<T> FinishAsync()
        {
            Release.SetResult();
            return Load.WaitAsync(TimeSpan.FromSeconds(30));
        }
    }
}

public sealed class MemoryCrossNodeFillTests : CrossNodeFillTests
{
    protected override bool HasOtherNodes => false;

    protected override Task<Action<RcOptions>> StoreAsync() => SharedStores.Memory();
}

public sealed class RedisCrossNodeFillTests : CrossNodeFillTests
{
    protected override Task<Action<RcOptions>> StoreAsync() => SharedStores.RedisAsync();
}

public sealed class ShardedCrossNodeFillTests : CrossNodeFillTests
{
    protected override Task<Action<RcOptions>> StoreAsync() => SharedStores.ShardedAsync();
}

public sealed class ClusterCrossNodeFillTests : CrossNodeFillTests
{
    protected override Task<Action<RcOptions>> StoreAsync() => SharedStores.ClusterAsync();
}
