using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Stores;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Reliability;

/// <summary>
/// A server that cost a request one operation timeout is skipped for the rest of that request, even while its circuit
/// stays closed (a connect that never completes counts toward the threshold, it does not open the circuit at once).
/// The server here accepts no connection: its listen queue is full, so every connect hangs, exactly, every time.
/// </summary>
public sealed class FailureBudgetTests : IAsyncLifetime
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly List<Socket> _queued = [];
    private WebApplication? _app;

    public async Task InitializeAsync()
    {
        _listener.Start(backlog: 1);
        var endPoint = (IPEndPoint)_listener.LocalEndpoint;
        for (var i = 0; i < 4; i++)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { Blocking = false };
            try
            {
                socket.Connect(endPoint);
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress)
            {
            }

            _queued.Add(socket);
        }

        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseTestServer();
        builder.Services.AddRcCache(o =>
        {
            o.Namespace = "budget:";
            o.Store = RcStoreKind.Redis;
            o.Redis = endPoint.ToString();
            o.OperationTimeout = TimeSpan.FromMilliseconds(250);
            o.CircuitBreakerThreshold = 10;
        });
        _app = builder.Build();
        _app.MapGet("/three", static async (IRcCache cache) =>
        {
            var found = 0;
            foreach (var key in new[] { "a", "b", "c" })
            {
                found += await cache.GetAsync<string>(key) is null ? 0 : 1;
            }

            return found;
        });
        _app.MapGet("/three-sync", static (IDistributedCache cache) => new[] { "a", "b", "c" }.Count(key => cache.Get(key) is not null));
        await _app.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _app!.DisposeAsync();
        foreach (var socket in _queued)
        {
            socket.Dispose();
        }

        _listener.Stop();
    }

    [Theory]
    [InlineData("/three")]
    [InlineData("/three-sync")]
    public async Task ThreeCallsToAServerThatNeverConnects_CostTheRequestOneTimeout(string path)
    {
        using var metrics = new MetricsRecorder(_app!.Services);
        using var client = _app.GetTestClient();

        Assert.Equal("0", await client.GetStringAsync(path));

        Assert.Equal(1, metrics.Sum("rc.store.timeouts"));
        Assert.Equal(2, metrics.Sum("rc.store.errors", static t => t["error.type"] == "circuit_open"));
    }

    [Fact]
    public async Task EachRequest_HasABudgetOfItsOwn()
    {
        // Each request opens a budget of its own: the second pays its own timeout once. (TestServer starts each request
        // from the test's own context; the next test checks that a budget ends with its request.)
        using var metrics = new MetricsRecorder(_app!.Services);
        using var client = _app.GetTestClient();

        Assert.Equal("0", await client.GetStringAsync("/three"));
        Assert.Equal("0", await client.GetStringAsync("/three"));

        Assert.Equal(2, metrics.Sum("rc.store.timeouts"));
        Assert.Equal(4, metrics.Sum("rc.store.errors", static t => t["error.type"] == "circuit_open"));
    }

    /// <summary>
    /// The budget is opened in the middleware's own async method, whose end gives the caller (the server's loop over a
    /// connection's requests) its own context back: nothing the request spent is seen after it, whether it completes at
    /// once or after an await.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ABudgetEndsWithItsRequest(bool completesLater)
    {
        var server = new object();
        var seenInside = false;
        var app = new ApplicationBuilder(new ServiceCollection().BuildServiceProvider());
        new RcFailureBudgetStartupFilter().Configure(endpoint => endpoint.Run(async _ =>
        {
            if (completesLater)
            {
                await Task.Yield();
            }

            FailureBudget.Spent(server);
            seenInside = FailureBudget.HasFailed(server);
        }))(app);

        var request = app.Build()(new DefaultHttpContext());
        Assert.False(FailureBudget.HasFailed(server)); // the caller, right after the request's synchronous part
        await request;

        Assert.True(seenInside, "The request had no budget.");
        Assert.False(FailureBudget.HasFailed(server));
    }

    /// <summary>
    /// A signal that reaches the thread blocked in a synchronous connect (a child process exiting sends one to any
    /// thread) would interrupt the connect, which its timeout makes unrestartable, and .NET would then wait for the
    /// kernel to give up on it (about two minutes). The call still pays one timeout (250 ms), as a connect that never
    /// completes does. The thread is signalled every 20 ms until its call returns, so signals reach it in the connect;
    /// 30 s is the generous bound it must return within.
    /// </summary>
    [Fact]
    [SupportedOSPlatform("linux")]
    public void ASignalThatReachesASynchronousConnect_DoesNotOutlastTheTimeout()
    {
        using var metrics = new MetricsRecorder(_app!.Services);
        var cache = _app.Services.GetRequiredService<IDistributedCache>();
        var (returned, elapsed, signals) = SignalledCall.Run(() => cache.Get("a"), TimeSpan.FromSeconds(30));
        Assert.True(returned, $"The synchronous Get was still connecting {elapsed.TotalSeconds:0} s later, after {signals} signals.");
        Assert.True(signals > 0, "No signal reached the caller's thread.");
        Assert.Equal(1, metrics.Sum("rc.store.timeouts"));
        Assert.Equal(0, metrics.Sum("rc.store.errors", static t => t["error.type"] == "connection"));
    }

    [Fact]
    public async Task OutsideARequest_EachCallPaysItsOwnTimeoutUntilTheThreshold()
    {
        using var metrics = new MetricsRecorder(_app!.Services);
        var cache = _app.Services.GetRequiredService<IRcCache>();

        foreach (var key in new[] { "a", "b", "c" })
        {
            Assert.Null(await cache.GetAsync<string>(key));
        }

        Assert.Equal(3, metrics.Sum("rc.store.timeouts"));
    }
}
