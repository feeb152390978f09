using System.Net;
using System.Security.Authentication;
using RcAspNet.Stores.Redis;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Stores;

/// <summary>
/// The library's synchronous connections reach a server named by host, and their connect, host lookup included, ends
/// by the call's deadline: a DNS server that never answers costs a call its timeout, not the resolver's retries. The
/// lookup here is the test's own (the system's resolver cannot be made to hang from a test); the server is real.
/// </summary>
public sealed class HostResolutionTests : IAsyncLifetime
{
    private const string Host = "cache.rc-test";
    private RedisServer _server = null!;

    public async Task InitializeAsync() => _server = await RedisServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task AHostName_IsLookedUp_AndItsServerAnswers()
    {
        var asked = new List<string>();
        var settings = Settings(host =>
        {
            lock (asked)
            {
                asked.Add(host);
            }

            return [IPAddress.Loopback];
        });
        using var client = new BlockingRedisClient([new DnsEndPoint(Host, _server.Port)], settings);
        await _server.CommandAsync("SET", "resolved", "yes");

        Assert.Equal("yes"u8.ToArray(), client.Get("resolved", RespConnection.Deadline(TimeSpan.FromSeconds(10))));
        Assert.Equal([Host], asked);
    }

    [Fact]
    public async Task ALookupThatNeverAnswers_EndsEachCallAtItsDeadline_AndCallersShareIt()
    {
        using var hung = new ManualResetEventSlim();
        var lookups = 0;
        var settings = Settings(_ =>
        {
            Interlocked.Increment(ref lookups);
            hung.Wait();
            throw new InvalidOperationException("released by the test's end");
        });
        using var client = new BlockingRedisClient([new DnsEndPoint(Host, _server.Port)], settings);
        try
        {
            // Each call on a thread of its own, as synchronous callers are; each must return with a timeout.
            var calls = Enumerable.Range(0, 4).Select(i => Task.Factory.StartNew(
                () => Assert.Throws<ConnectTimeoutException>(() => client.Get($"k{i}", RespConnection.Deadline(TimeSpan.FromMilliseconds(300)))),
                CancellationToken.None,
                TaskCreationOptions.LongRunning,
                TaskScheduler.Default)).ToArray();
            var all = Task.WhenAll(calls);
            Assert.Same(all, await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(30))));
            await all;

            // One lookup for all four (it may start after a caller's deadline on a loaded machine, but never twice).
            await Eventually.TrueAsync(() => Task.FromResult(Volatile.Read(ref lookups) >= 1));
            Assert.Equal(1, Volatile.Read(ref lookups));
        }
        finally
        {
            hung.Set();
        }
    }

    [Fact]
    public async Task ASeedWhoseLookupNeverAnswers_IsPassedOver_ForTheNext()
    {
        using var hung = new ManualResetEventSlim();
        var settings = Settings(host =>
        {
            if (host == "silent.rc-test")
            {
                hung.Wait();
                throw new InvalidOperationException("released by the test's end");
            }

            return [IPAddress.Loopback];
        });
        using var client = new BlockingRedisClient([new DnsEndPoint("silent.rc-test", _server.Port), new DnsEndPoint(Host, _server.Port)], settings);
        await _server.CommandAsync("SET", "next-seed", "yes");
        try
        {
            // The first call spends its deadline on the silent seed's lookup, and times out; or, when the wait for the
            // lookup ends a moment before the deadline (a wait's clock is coarser than the deadline's), it goes on to the
            // other seed in what is left, and may be answered there. The next call goes to the other seed.
            byte[]? first = null;
            var failure = Record.Exception(() => first = client.Get("next-seed", RespConnection.Deadline(TimeSpan.FromMilliseconds(300))));
            if (failure is null)
            {
                Assert.Equal("yes"u8.ToArray(), first);
            }
            else
            {
                Assert.IsAssignableFrom<TimeoutException>(failure);
            }

            Assert.Equal("yes"u8.ToArray(), client.Get("next-seed", RespConnection.Deadline(TimeSpan.FromSeconds(10))));
        }
        finally
        {
            hung.Set();
        }
    }

    private static RespSettings Settings(Func<string, IPAddress[]> lookup) =>
        new(User: null, Password: null, Database: 0, Ssl: false, SslHost: null, SslProtocols: SslProtocols.None) { Lookup = lookup };
}
