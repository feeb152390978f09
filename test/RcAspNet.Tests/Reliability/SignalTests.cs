using System.Runtime.Versioning;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Reliability;

/// <summary>
/// Signals that reach a thread blocked in the synchronous client (a child process exiting sends SIGCHLD to any
/// thread): a read from a server that stopped answering still ends at Rc:OperationTimeout. The thread is signalled
/// every 20 ms until its call returns (<see cref="SignalledCall"/>); 30 s is the generous bound it must return within.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class SignalTests
{
    [Fact]
    public async Task ASignalThatReachesASynchronousRead_DoesNotOutlastTheTimeout()
    {
        await using var server = await RedisServer.StartAsync();
        await using var services = TestServices.Build(o =>
        {
            TestServices.Redis(o, server);
            o.Namespace = SharedRedis.UniqueNamespace();
            o.OperationTimeout = TimeSpan.FromMilliseconds(250);
            o.CircuitBreakerThreshold = 10;
        });
        var cache = services.GetRequiredService<IDistributedCache>();

        // Connected (within the short timeout, which a slow moment of a loaded machine can miss) before the freeze.
        await Eventually.TrueAsync(() =>
        {
            cache.Set("warm", [1]);
            return Task.FromResult(cache.Get("warm") is not null);
        });
        using var metrics = new MetricsRecorder(services);

        server.Pause();
        try
        {
            var (returned, elapsed, signals) = SignalledCall.Run(() => cache.Get("warm"), TimeSpan.FromSeconds(30));
            Assert.True(returned, $"The synchronous Get of a frozen server still waited {elapsed.TotalSeconds:0} s later, after {signals} signals.");
            Assert.True(signals > 0, "No signal reached the caller's thread.");
            Assert.Equal(1, metrics.Sum("rc.store.timeouts"));
        }
        finally
        {
            server.Resume();
        }
    }
}
