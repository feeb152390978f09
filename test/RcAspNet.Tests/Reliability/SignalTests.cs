using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Reliability;

/// <summary>
/// Signals that reach a thread blocked in the synchronous client (a child process exiting sends SIGCHLD to any
/// thread): a read from a server that stopped answering still ends at Rc:OperationTimeout. The thread is signalled
/// every 20 ms until its call returns; 30 s is the generous bound it must return within.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed partial class SignalTests
{
    private const long GetTid = 186;
    private const long TgKill = 234;
    private const long SigCont = 18;

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
        cache.Set("warm", [1]);
        Assert.NotNull(cache.Get("warm"));
        using var metrics = new MetricsRecorder(services);
        using var handled = PosixSignalRegistration.Create(PosixSignal.SIGCONT, static _ => { });

        server.Pause();
        try
        {
            var thread = 0;
            using var done = new ManualResetEventSlim();
            var caller = new Thread(() =>
            {
                Volatile.Write(ref thread, (int)Syscall(GetTid));
                cache.Get("warm");
                done.Set();
            })
            { IsBackground = true };
            caller.Start();
            var signals = 0;
            var watch = Stopwatch.StartNew();
            while (!done.Wait(20) && watch.Elapsed < TimeSpan.FromSeconds(30))
            {
                if (Volatile.Read(ref thread) is var tid and not 0 && Syscall(TgKill, Environment.ProcessId, tid, SigCont) == 0)
                {
                    signals++;
                }
            }

            Assert.True(done.IsSet, $"The synchronous Get of a frozen server still waited {watch.Elapsed.TotalSeconds:0} s later, after {signals} signals.");
            Assert.True(signals > 0, "No signal reached the caller's thread.");
            Assert.Equal(1, metrics.Sum("rc.store.timeouts"));
        }
        finally
        {
            server.Resume();
        }
    }

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long Syscall(long number);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long Syscall(long number, long pid, long tid, long signal);
}
