using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Reliability;

/// <summary>A log provider that fails (a full disk, a broken sink) changes nothing the cache does.</summary>
public sealed class ThrowingLoggerTests : IAsyncLifetime
{
    private RedisServer? _server;

    private RedisServer Server => _server!;

    public async Task InitializeAsync() => _server = await RedisServer.StartAsync();

    public async Task DisposeAsync() => await Server.DisposeAsync();

    [Fact]
    public async Task ARemovalThatTimesOut_IsStillKeptAndDelivered_ThoughEveryLogLineThrows()
    {
        // The circuit logs as it opens, before it starts the recovery that delivers what was kept: a logger that threw
        // there lost the removal (it reached the caller as the logger's error, was never kept, and no recovery ran).
        await using var services = TestServices.Build(
            o =>
            {
                TestServices.Redis(o, Server);
                o.Namespace = "log:";
                o.OperationTimeout = TimeSpan.FromMilliseconds(250);
                o.CircuitBreakDuration = TimeSpan.FromMilliseconds(500);
            },
            static s => s.AddLogging(static b => b.AddProvider(new ThrowingLoggerProvider()).SetMinimumLevel(LogLevel.Trace)));
        var cache = services.GetRequiredService<IRcCache>();
        await cache.SetAsync("post:1", "old");

        Server.Pause();
        try
        {
            var result = await cache.DeleteAsync("post:1");
            Assert.True(result.Pending > 0, "The removal that did not reach the server is kept for it.");
        }
        finally
        {
            Server.Resume();
        }

        await Eventually.TrueAsync(async () => (await Server.CommandAsync("EXISTS", "log:post:1")).StartsWith(":0", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
        Assert.Null(await cache.GetAsync<string>("post:1"));
    }

    private sealed class ThrowingLoggerProvider : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new ThrowingLogger();

        public void Dispose()
        {
        }
    }

    private sealed class ThrowingLogger : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            throw new IOException("The log's disk is full.");
    }
}
