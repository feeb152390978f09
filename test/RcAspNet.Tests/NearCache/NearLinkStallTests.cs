using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using RcAspNet.Stores.Near;
using RcAspNet.Stores.Redis;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.NearCache;

/// <summary>
/// A link whose thread stalls (here in a callback that blocks, as a slow metrics listener would; a paused process does
/// the same) stays up while the invalidations the server sends wait unread in its socket: its copies must stop being
/// served within a bound of the last heartbeat it answered, not be served for as long as the stall lasts. The server
/// is a real redis-server, and the writes are another client's.
/// </summary>
public sealed class NearLinkStallTests
{
    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);

    [Fact]
    public async Task ALinkThatStalls_StopsVouchingForItsCopies_AndTheirInvalidationsLandWhenItGoesOn()
    {
        var server = await SharedRedis.Single;
        var ns = SharedRedis.UniqueNamespace();
        var copies = new NearCopies(1024 * 1024, TimeProvider.System);
        using var stall = new ManualResetEventSlim();
        var stalled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = 0;
        void Invalidated(int _)
        {
            if (Interlocked.Exchange(ref first, 1) == 0)
            {
                stalled.SetResult();
                stall.Wait(TimeSpan.FromSeconds(60));
            }
        }

        using var link = new ServerLink(new IPEndPoint(IPAddress.Loopback, server.Port), new RespSettings(null, null, 0, false, null, default), [ns], TimeSpan.FromMilliseconds(500), copies, Invalidated, static () => { }, static _ => { }, static () => false, NullLogger.Instance);
        try
        {
            await Eventually.TrueAsync(() => Task.FromResult(link.IsUp));
            foreach (var key in (string[])[ns + "a", ns + "b"])
            {
                var read = copies.BeginRead(key, link)!;
                copies.Complete(read, "v1"u8.ToArray(), Minute);
                Assert.True(copies.TryGet(key, link, out _));
            }

            // Another client writes a: its invalidation stalls the link's thread. Then b, whose invalidation waits unread.
            await server.CommandAsync("SET", ns + "a", "v2");
            await stalled.Task.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.False(copies.TryGet(ns + "a", link, out _));
            await server.CommandAsync("SET", ns + "b", "v2");

            // Up all along, yet b's copy is no longer served, a few seconds on (one heartbeat and three timeouts; the
            // stall lasts a minute).
            await Eventually.TrueAsync(() => Task.FromResult(!copies.TryGet(ns + "b", link, out _)), TimeSpan.FromSeconds(20));
            Assert.True(link.IsUp);

            // A read of b from Redis meanwhile is not kept, and the copy it contradicts goes: none is left to serve later.
            Assert.Equal(1, copies.Count);
            var fresh = copies.BeginRead(ns + "b", link)!;
            copies.Complete(fresh, "v2"u8.ToArray(), Minute);
            Assert.Equal(0, copies.Count);

            // The thread goes on: b's invalidation lands (its copy is gone for good), or the link fell behind and went down.
            stall.Set();
            await Eventually.TrueAsync(() => Task.FromResult(link.Vouches || !link.IsUp));
            Assert.False(copies.TryGet(ns + "b", link, out _));
        }
        finally
        {
            stall.Set();
        }
    }

    [Fact]
    public async Task ALinkThatStallsWithItsHeartbeatsAnswerArrived_ReadsItThere_AndStaysUp()
    {
        // The server sleeps past the link's next heartbeat, with a write queued before it: when it wakes, the write's
        // invalidation goes out first, then the heartbeat's answer. The invalidation stalls the link's thread past the
        // heartbeat's deadline, as a paused process would; the answer has been waiting in its socket all along.
        var server = await RedisServer.StartAsync("--enable-debug-command", "yes");
        await using var _ = server;
        var ns = SharedRedis.UniqueNamespace();
        var copies = new NearCopies(1024 * 1024, TimeProvider.System);
        using var stall = new ManualResetEventSlim();
        var stalled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var (first, lost) = (0, 0);
        void Invalidated(int _)
        {
            if (Interlocked.Exchange(ref first, 1) == 0)
            {
                stalled.SetResult();
                stall.Wait(TimeSpan.FromSeconds(60));
            }
        }

        using var link = new ServerLink(new IPEndPoint(IPAddress.Loopback, server.Port), new RespSettings(null, null, 0, false, null, default), [ns], TimeSpan.FromSeconds(2), copies, Invalidated, () => Interlocked.Increment(ref lost), static _ => { }, static () => false, NullLogger.Instance);
        try
        {
            await Eventually.TrueAsync(() => Task.FromResult(link.IsUp));
            var epoch = link.Epoch;

            // On connections of their own, so that the write is queued on the sleeping server at once, before the
            // heartbeat it sends during the sleep.
            var endPoint = new IPEndPoint(IPAddress.Loopback, server.Port);
            var settings = new RespSettings(null, null, 0, false, null, default);
            using (var sleeper = RespConnection.Open(endPoint, settings, RespConnection.Deadline(TimeSpan.FromSeconds(10))))
            using (var writer = RespConnection.Open(endPoint, settings, RespConnection.Deadline(TimeSpan.FromSeconds(10))))
            {
                sleeper.Command(3).Arg("DEBUG").Arg("SLEEP").Arg("1.5").Send(RespConnection.Deadline(TimeSpan.FromSeconds(10)));
                writer.Command(3).Arg("SET").Arg(ns + "a").Arg("v2").Send(RespConnection.Deadline(TimeSpan.FromSeconds(10)));
                Assert.Equal("OK", writer.Read(RespConnection.Deadline(TimeSpan.FromSeconds(30))).AsString());
                Assert.Equal("OK", sleeper.Read(RespConnection.Deadline(TimeSpan.FromSeconds(30))).AsString());
            }

            await stalled.Task.WaitAsync(TimeSpan.FromSeconds(30));

            // Stalled past the deadline of the heartbeat sent while the server slept.
            await Task.Delay(TimeSpan.FromSeconds(3));
            stall.Set();
            await Eventually.TrueAsync(() => Task.FromResult(link.Vouches || !link.IsUp));
            Assert.True(link.IsUp, "the link went down though the heartbeat's answer was waiting in its socket");
            Assert.Equal(epoch, link.Epoch);
            Assert.Equal(0, Volatile.Read(ref lost));
        }
        finally
        {
            stall.Set();
        }
    }
}
