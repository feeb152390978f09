using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using RcAspNet.Stores.Redis;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Reliability;

/// <summary>The invalidation link runs on a thread of its own: nothing that goes wrong on it may end the process.</summary>
public sealed class ServerLinkTests
{
    [Fact]
    public async Task ALoggerThatThrows_DoesNotEndTheLinksThread_ItConnectsAgain()
    {
        // A log provider that fails (a full disk, a broken sink) makes the logger throw from the link's catch blocks.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var endPoint = (IPEndPoint)listener.LocalEndpoint;
        listener.Stop();
        var logger = new ThrowingLogger();
        using var link = new ServerLink(endPoint, new RespSettings(null, null, 0, false, null, default), ["rc:"], TimeSpan.FromSeconds(1), null, static _ => { }, static () => { }, static _ => { }, static () => false, logger);

        // Each failed attempt logs once, and throws: had the first ended the thread, the process would have ended with it.
        await Eventually.TrueAsync(() => Task.FromResult(logger.Calls >= 3), TimeSpan.FromSeconds(30));
        Assert.False(link.IsUp);
    }

    [Fact]
    public async Task ALoggerThatThrows_DoesNotTakeALinkThatCameUpDownAgain()
    {
        // "Link up" is logged as the link comes up: a logger that throws there must not make the link fail, and the
        // server be suspected and held, every second.
        var server = await SharedRedis.Single;
        var logger = new ThrowingLogger();
        var lost = 0;
        using var link = new ServerLink(new IPEndPoint(IPAddress.Loopback, server.Port), new RespSettings(null, null, 0, false, null, default), [SharedRedis.UniqueNamespace()], TimeSpan.FromSeconds(2), null, static _ => { }, () => Interlocked.Increment(ref lost), static _ => { }, static () => false, logger);

        // Up, then logged: the link is up once it logged, and stays up.
        await Eventually.TrueAsync(() => Task.FromResult(link.IsUp && logger.Calls >= 1), TimeSpan.FromSeconds(30));
        Assert.True(link.IsUp);
        Assert.Equal(0, Volatile.Read(ref lost));
    }

    private sealed class ThrowingLogger : ILogger
    {
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            Interlocked.Increment(ref _calls);
            throw new IOException("The log's disk is full.");
        }
    }
}
