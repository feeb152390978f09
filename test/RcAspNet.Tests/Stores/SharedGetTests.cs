using System.Text;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Stores;

/// <summary>
/// Concurrent reads of one key share one GET, as output caching's lookups do, and Redis counts it (INFO commandstats).
/// The server is frozen (SIGSTOP) while the reads are started, so every read after the first begins while that GET is
/// in flight: the counts are exact, not a race against the server.
/// </summary>
public sealed class SharedGetTests : IAsyncLifetime
{
    private RedisServer _server = null!;
    private ServiceProvider _services = null!;

    private IRcCache Cache => _services.GetRequiredService<IRcCache>();

    public async Task InitializeAsync()
    {
        _server = await RedisServer.StartAsync();
        _services = TestServices.Build(o =>
        {
            TestServices.Redis(o, _server);
            o.Namespace = SharedRedis.UniqueNamespace();
            o.OperationTimeout = TimeSpan.FromSeconds(30);
        });
        await Cache.SetAsync("hot", "the value");
        Assert.Equal("the value", await Cache.GetAsync<string>("hot"));
    }

    public async Task DisposeAsync()
    {
        await _services.DisposeAsync();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task ConcurrentReadersOfOneKey_SendOneGet()
    {
        var reads = await WhileFrozenAsync(() => Enumerable.Range(0, 64).Select(_ => Cache.GetAsync<string>("hot").AsTask()).ToArray());
        Assert.All(await Task.WhenAll(reads), static v => Assert.Equal("the value", v));
        Assert.Equal(1, (await _server.CommandStatsAsync())["get"]);
    }

    [Fact]
    public async Task ReadersThatShareAGet_EachGetAnArrayOfTheirOwn()
    {
        var distributed = _services.GetRequiredService<IDistributedCache>();
        var reads = await WhileFrozenAsync(() => Enumerable.Range(0, 8).Select(_ => distributed.GetAsync("hot")).ToArray());
        var arrays = await Task.WhenAll(reads);
        Assert.Equal(1, (await _server.CommandStatsAsync())["get"]);
        Assert.Equal(arrays.Length, arrays.Distinct(ReferenceEqualityComparer.Instance).Count());

        // The caller of IDistributedCache.Get may change what it got: no other caller sees it.
        Array.Clear(arrays[0]!);
        Assert.All(arrays.Skip(1), static a => Assert.Equal("\"the value\"", Encoding.UTF8.GetString(a!)));
        Assert.Equal("the value", await Cache.GetAsync<string>("hot"));
    }

    [Fact]
    public async Task AReadThatBeginsAfterAWrite_NeverJoinsAGetBegunBeforeIt()
    {
        Task<string?> before = null!, after = null!;
        Task write = null!;
        await WhileFrozenAsync<Task>(() =>
        {
            before = Cache.GetAsync<string>("hot").AsTask();
            write = Cache.SetAsync("hot", "the new value").AsTask();
            after = Cache.GetAsync<string>("hot").AsTask();
            return [before, write, after];
        });
        await write;
        Assert.Equal("the value", await before);
        Assert.Equal("the new value", await after);
        Assert.Equal(2, (await _server.CommandStatsAsync())["get"]);
    }

    [Fact]
    public async Task AReadThatBeginsAfterARemoval_NeverJoinsAGetBegunBeforeIt()
    {
        Task<string?> before = null!, after = null!;
        await WhileFrozenAsync<Task>(() =>
        {
            before = Cache.GetAsync<string>("hot").AsTask();
            var removal = Cache.DeleteAsync("hot").AsTask();
            after = Cache.GetAsync<string>("hot").AsTask();
            return [before, removal, after];
        });
        Assert.Equal("the value", await before);
        Assert.Null(await after);
        Assert.Equal(2, (await _server.CommandStatsAsync())["get"]);
    }

    [Fact]
    public async Task TheFirstReadersCancellation_CancelsNoReaderThatJoinedIt()
    {
        using var cancel = new CancellationTokenSource();
        Task<string?> first = null!, joined = null!;
        await WhileFrozenAsync<Task>(() =>
        {
            first = Cache.GetAsync<string>("hot", cancel.Token).AsTask();
            joined = Cache.GetAsync<string>("hot").AsTask();
            cancel.Cancel();
            return [joined];
        });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);
        Assert.Equal("the value", await joined);
        Assert.Equal(1, (await _server.CommandStatsAsync())["get"]);
    }

    /// <summary>Starts calls while the server is frozen, thaws it, and waits for them (their failures are the test's to see).</summary>
    private async Task<T[]> WhileFrozenAsync<T>(Func<T[]> start)
        where T : Task
    {
        await _server.ResetStatsAsync();
        _server.Pause();
        T[] calls;
        try
        {
            calls = start();
        }
        finally
        {
            _server.Resume();
        }

        await Task.WhenAll(calls.Select(static c => c.ContinueWith(static _ => { }, TaskScheduler.Default)));
        return calls;
    }
}
