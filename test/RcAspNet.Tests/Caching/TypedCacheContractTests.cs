using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Caching;

/// <summary>IRcCache, run against every store.</summary>
public abstract class TypedCacheContractTests : IAsyncLifetime
{
    private readonly ManualTimeProvider _time = new();
    private ServiceProvider? _services;
    private string _servers = "";

    public sealed record Post(int Id, string Title);

    protected IRcCache Cache => _services!.GetRequiredService<IRcCache>();

    protected string Ns { get; } = SharedRedis.UniqueNamespace();

    private string TemplatesNs => Ns.TrimEnd(':') + "-tpl:";

    public async Task InitializeAsync()
    {
        var store = await StoreAsync();
        var options = new RcOptions();
        store(options);
        _servers = RedisTime.ServersOf(options);
        _services = TestServices.Build(
            o =>
        {
            store(o);
            o.Namespace = Ns;
            o.FailureMode = RcFailureMode.Throw;
            o.OperationTimeout = TimeSpan.FromSeconds(5);
            o.BypassValues.Add("null");
            o.Caches["templates"] = new RcNamedCacheOptions { Namespace = TemplatesNs, DefaultExpiration = TimeSpan.FromMinutes(1) };
        },
            s => s.AddSingleton<TimeProvider>(_time));
    }

    /// <summary>Lets time pass: the app's fake clock, and the TTLs of this test's keys in Redis (<see cref="RedisTime"/>).</summary>
    protected async Task PassAsync(TimeSpan time)
    {
        _time.Advance(time);
        if (_servers.Length > 0)
        {
            await RedisTime.PassAsync(_servers, Ns, time);
        }
    }

    public async Task DisposeAsync() => await _services!.DisposeAsync();

    protected abstract Task<Action<RcOptions>> StoreAsync();

    [Fact]
    public async Task TheLongestLifetimes_KeepTheEntry()
    {
        await Cache.SetAsync("forever", "a", new RcEntryOptions { Expiration = TimeSpan.MaxValue });
        Assert.Equal("a", await Cache.GetAsync<string>("forever"));
        await Cache.SetAsync("fallback-forever", "b", new RcEntryOptions { Expiration = TimeSpan.FromMinutes(1), FailSafeMaxDuration = TimeSpan.MaxValue });
        Assert.Equal("b", await Cache.GetAsync<string>("fallback-forever"));
        Assert.Equal("c", await Cache.GetOrSetAsync("loaded-forever", _ => ValueTask.FromResult("c"), new RcEntryOptions { Expiration = TimeSpan.MaxValue, FailSafeMaxDuration = TimeSpan.MaxValue }));
        Assert.Equal("c", await Cache.GetAsync<string>("loaded-forever"));
        await Cache.SetAsync("tagged-forever", "d", new RcEntryOptions { Expiration = TimeSpan.MaxValue, Tags = ["forever"] });
        Assert.Equal("d", await Cache.GetAsync<string>("tagged-forever"));
        await Cache.InvalidateTagAsync("forever");
        Assert.Null(await Cache.GetAsync<string>("tagged-forever"));
    }

    [Fact]
    public async Task Set_ThenGet_ReturnsAnEqualValue()
    {
        await Cache.SetAsync("post:1", new Post(1, "Hello"));
        Assert.Equal(new Post(1, "Hello"), await Cache.GetAsync<Post>("post:1"));
    }

    [Fact]
    public async Task Get_Miss_ReturnsDefault()
    {
        Assert.Null(await Cache.GetAsync<Post>("nothing"));
        Assert.Null(await Cache.GetAsync<int?>("nothing"));
    }

    [Fact]
    public async Task GetMany_AnswersInInputOrderWithMissesAsDefault()
    {
        await Cache.SetManyAsync<Post>([new("a", new Post(1, "a")), new("c", new Post(3, "c"))]);
        var posts = await Cache.GetManyAsync<Post>(["a", "b", "c"]);
        Assert.Equal([new Post(1, "a"), null, new Post(3, "c")], posts);
    }

    [Fact]
    public async Task Add_StoresOnlyWhenAbsent()
    {
        Assert.True(await Cache.AddAsync("add", 1));
        Assert.False(await Cache.AddAsync("add", 2));
        Assert.Equal(1, await Cache.GetAsync<int>("add"));
    }

    [Fact]
    public async Task DeleteAndDeleteMany_RemoveEntries()
    {
        await Cache.SetManyAsync<int>([new("d1", 1), new("d2", 2), new("d3", 3)]);
        Assert.Equal(new RcRemovalResult(1, 0), await Cache.DeleteAsync("d1"));
        Assert.Equal(new RcRemovalResult(2, 0), await Cache.DeleteManyAsync(["d2", "d3", "d4"]));
        Assert.False(await Cache.ExistsAsync("d2"));
    }

    [Fact]
    public async Task Increment_CountsAndExists()
    {
        Assert.Equal(1, await Cache.IncrementAsync("hits"));
        Assert.Equal(11, await Cache.IncrementAsync("hits", 10));
        Assert.True(await Cache.ExistsAsync("hits"));
        Assert.Equal(11, await Cache.GetAsync<long>("hits"));
    }

    [Fact]
    public async Task Touch_GivesANewLifetime()
    {
        await Cache.SetAsync("touch", 1, new RcEntryOptions { Expiration = TimeSpan.FromMinutes(1) });
        Assert.True(await Cache.TouchAsync("touch", TimeSpan.FromMinutes(5)));
        await PassAsync(TimeSpan.FromMinutes(2));
        Assert.Equal(1, await Cache.GetAsync<int>("touch"));
        Assert.False(await Cache.TouchAsync("gone", TimeSpan.FromMinutes(5)));
    }

    [Fact]
    public async Task Expiration_Expires()
    {
        await Cache.SetAsync("short", 1, new RcEntryOptions { Expiration = TimeSpan.FromMinutes(1) });
        await PassAsync(TimeSpan.FromSeconds(59));
        Assert.True(await Cache.ExistsAsync("short"));
        await PassAsync(TimeSpan.FromSeconds(2));
        Assert.False(await Cache.ExistsAsync("short"));
    }

    [Fact]
    public async Task Clear_DeletesOnlyThisNamespace()
    {
        var templates = _services!.GetRequiredKeyedService<IRcCache>("templates");
        await Cache.SetManyAsync(Enumerable.Range(0, 50).Select(i => new KeyValuePair<string, int>($"k{i}", i)).ToArray());
        await templates.SetAsync("page", "<html>");
        Assert.Equal(new RcRemovalResult(50, 0), await Cache.ClearAsync());
        Assert.Equal("<html>", await templates.GetAsync<string>("page"));
    }

    [Fact]
    public async Task GetOrSet_RunsTheFactoryOnceThenHits()
    {
        var calls = 0;
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(new Post(5, "five"), await Cache.GetOrSetAsync(RcKey.For("Post.GetById", 5), _ => { calls++; return ValueTask.FromResult(new Post(5, "five")); }));
        }

        Assert.Equal(1, calls);
    }

    [Fact]
    public async Task Invalidate_RemovesExactlyTheEntryOfThoseArguments()
    {
        await Cache.GetOrSetAsync(RcKey.For("Post.GetById", 1), _ => ValueTask.FromResult(new Post(1, "one")));
        await Cache.GetOrSetAsync(RcKey.For("Post.GetById", 2), _ => ValueTask.FromResult(new Post(2, "two")));
        Assert.Equal(new RcRemovalResult(1, 0), await Cache.InvalidateAsync("Post.GetById", 1));
        Assert.False(await Cache.ExistsAsync(RcKey.For("Post.GetById", 1)));
        Assert.True(await Cache.ExistsAsync(RcKey.For("Post.GetById", 2)));
    }

    [Fact]
    public async Task ConfiguredBypassValue_IsReturnedButNotStored()
    {
        Assert.Null(await Cache.GetOrSetAsync<Post?>("absent", _ => ValueTask.FromResult<Post?>(null)));
        Assert.False(await Cache.ExistsAsync("absent"));
    }

    [Fact]
    public async Task PerCallBypassValue_IsReturnedButNotStored()
    {
        var options = new RcEntryOptions { BypassValues = [0, -1] };
        Assert.Equal(-1, await Cache.GetOrSetAsync("count", _ => ValueTask.FromResult(-1), options));
        Assert.False(await Cache.ExistsAsync("count"));
        Assert.Equal(7, await Cache.GetOrSetAsync("count", _ => ValueTask.FromResult(7), options));
        Assert.True(await Cache.ExistsAsync("count"));
    }

    [Fact]
    public async Task ABypassValueWritten_RemovesTheValueItReplaces()
    {
        // The application replaces the post with a value the cache does not store: the old one must not be served.
        await Cache.SetAsync("post", new Post(1, "old"));
        await Cache.SetAsync<Post?>("post", null);
        Assert.False(await Cache.ExistsAsync("post"));

        var options = new RcEntryOptions { BypassValues = [0] };
        await Cache.SetManyAsync<int>([new("a", 1), new("b", 2)], options);
        await Cache.SetManyAsync<int>([new("a", 0), new("b", 3)], options);
        Assert.False(await Cache.ExistsAsync("a"));
        Assert.Equal(3, await Cache.GetAsync<int>("b"));
    }

    [Fact]
    public async Task GetOrSet_ConcurrentMisses_RunTheFactoryOnce()
    {
        var calls = 0;
        var gate = new TaskCompletionSource();
        var callers = Enumerable.Range(0, 20).Select(_ => Cache.GetOrSetAsync("stampede", async _ =>
        {
            Interlocked.Increment(ref calls);
            await gate.Task;
            return 42;
        }).AsTask()).ToArray();
        await Task.Delay(300);
        gate.SetResult();
        Assert.All(await Task.WhenAll(callers), static v => Assert.Equal(42, v));
        Assert.Equal(1, calls);
    }

    [Fact]
    public async Task GetOrSet_FactoryThatThrows_FailsEveryWaiterAndStoresNothing()
    {
        var gate = new TaskCompletionSource();
        var callers = Enumerable.Range(0, 5).Select(_ => Cache.GetOrSetAsync<int>("throws", async _ =>
        {
            await gate.Task;
            throw new InvalidOperationException("database down");
        }).AsTask()).ToArray();
        await Task.Delay(50);
        gate.SetResult();
        foreach (var caller in callers)
        {
            Assert.Equal("database down", (await Assert.ThrowsAsync<InvalidOperationException>(() => caller)).Message);
        }

        Assert.False(await Cache.ExistsAsync("throws"));
    }

    [Fact]
    public async Task GetOrSet_OneWaiterCancelled_OthersStillGetTheResult()
    {
        var gate = new TaskCompletionSource();
        var started = new TaskCompletionSource();
        var factoryCancelled = false;
        using var cancel = new CancellationTokenSource();
        var first = Cache.GetOrSetAsync("cancel-one", async token =>
        {
            started.SetResult();
            await gate.Task;
            factoryCancelled = token.IsCancellationRequested;
            return 9;
        }, cancellationToken: cancel.Token).AsTask();
        await started.Task;
        var second = Cache.GetOrSetAsync("cancel-one", _ => ValueTask.FromResult(-1)).AsTask();

        // The first caller leaves only once the second has joined its load: on a loaded machine the second's read of
        // the store can outlast any fixed pause, and it would then find a load being cancelled and run its own.
        var joining = System.Diagnostics.Stopwatch.StartNew();
        while (((RcAspNet.Caching.RcCache)Cache).LoadWaiters<int>("cancel-one") < 2)
        {
            Assert.True(joining.Elapsed < TimeSpan.FromSeconds(30), "The second caller never joined the first one's load.");
            await Task.Delay(5);
        }

        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);
        gate.SetResult();
        Assert.Equal(9, await second);
        Assert.False(factoryCancelled);
        Assert.Equal(9, await Cache.GetAsync<int>("cancel-one"));
    }

    [Fact]
    public async Task UnreadableEntry_IsAMissAndTheFactoryReplacesIt()
    {
        await Cache.SetAsync("corrupt", "not a post");
        Assert.Null(await Cache.GetAsync<Post>("corrupt"));
        Assert.Equal(new Post(1, "fresh"), await Cache.GetOrSetAsync("corrupt", _ => ValueTask.FromResult(new Post(1, "fresh"))));
        Assert.Equal(new Post(1, "fresh"), await Cache.GetAsync<Post>("corrupt"));
    }

    [Fact]
    public async Task GetOrSet_KeyTheCacheCannotHold_RunsTheFactoryWithoutTheCache()
    {
        Assert.Equal(3, await Cache.GetOrSetAsync("", _ => ValueTask.FromResult(3)));
        Assert.Equal(4, await Cache.GetOrSetAsync(new string('k', 5000), _ => ValueTask.FromResult(4)));
    }

    [Fact]
    public async Task NamedCache_HasItsOwnNamespace()
    {
        var templates = _services!.GetRequiredKeyedService<IRcCache>("templates");
        Assert.Equal(TemplatesNs, templates.Namespace);
        await templates.SetAsync("page", "<html>");
        Assert.Null(await Cache.GetAsync<string>("page"));
        Assert.Equal("<html>", await templates.GetAsync<string>("page"));
    }

    [Fact]
    public void NamedCache_NotConfigured_IsAClearError()
    {
        var error = Assert.Throws<InvalidOperationException>(() => _services!.GetRequiredKeyedService<IRcCache>("models"));
        Assert.Contains("Rc:Caches:models", error.Message, StringComparison.Ordinal);
    }
}

public sealed class MemoryTypedCacheTests : TypedCacheContractTests
{
    protected override Task<Action<RcOptions>> StoreAsync() => Task.FromResult<Action<RcOptions>>(static o => o.Store = RcStoreKind.Memory);

    [Fact]
    public async Task Clear_WithoutNamespace_Refuses()
    {
        await using var services = TestServices.Build(static o => o.Namespace = "");
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await services.GetRequiredService<IRcCache>().ClearAsync());
    }
}

public sealed class RedisTypedCacheTests : TypedCacheContractTests
{
    protected override Task<Action<RcOptions>> StoreAsync() => SharedStores.RedisAsync();

    [Fact]
    public async Task Connections_RunRawCommands()
    {
        var connections = await Cache.GetRedisConnectionsAsync();
        var connection = Assert.Single(connections).Value;
        await Cache.SetAsync("raw", "value");
        Assert.Equal("\"value\"", (string?)await connection.GetDatabase().StringGetAsync(Ns + "raw"));
    }
}

public sealed class ShardedTypedCacheTests : TypedCacheContractTests
{
    protected override Task<Action<RcOptions>> StoreAsync() => SharedStores.ShardedAsync(RcRouterKind.Ketama);

    [Fact]
    public async Task Connections_AreOnePerShard() => Assert.Equal(3, (await Cache.GetRedisConnectionsAsync()).Count);
}

public sealed class ShardedCrc32TypedCacheTests : TypedCacheContractTests
{
    protected override Task<Action<RcOptions>> StoreAsync() => SharedStores.ShardedAsync(RcRouterKind.Crc32);

    [Fact]
    public async Task Connections_AreOnePerShard() => Assert.Equal(3, (await Cache.GetRedisConnectionsAsync()).Count);
}

public sealed class ClusterTypedCacheTests : TypedCacheContractTests
{
    protected override Task<Action<RcOptions>> StoreAsync() => SharedStores.ClusterAsync();
}

public sealed class RedisNearTypedCacheTests : TypedCacheContractTests
{
    protected override async Task<Action<RcOptions>> StoreAsync()
    {
        var server = await SharedRedis.Single;
        return o =>
        {
            TestServices.Redis(o, server);
            o.NearCache.Enabled = true;
        };
    }
}
