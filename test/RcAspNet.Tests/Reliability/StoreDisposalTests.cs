using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Reliability;

/// <summary>A disposed store leaves nothing open on its servers.</summary>
public sealed class StoreDisposalTests : IAsyncLifetime
{
    private RedisServer? _server;
    private int _asked; // connections the harness opened to ask (one per StatAsync)

    private RedisServer Server => _server!;

    public async Task InitializeAsync() => _server = await RedisServer.StartAsync();

    public async Task DisposeAsync() => await Server.DisposeAsync();

    [Fact]
    public async Task AStoreDisposedWhileItsFirstConnectIsUnderWay_ClosesWhatThatConnectMakes()
    {
        // The first call starts the connect and gives up after OperationTimeout; the services end before the server
        // answers. The connect then completes: it must not keep its connections, nor start the server's link.
        var before = await StatAsync("stats", "total_connections_received");
        var services = TestServices.Build(o =>
        {
            TestServices.Redis(o, Server);
            o.OperationTimeout = TimeSpan.FromMilliseconds(250);
        });
        Server.Pause();
        try
        {
            Assert.Null(await services.GetRequiredService<IRcCache>().GetAsync<string>("k"));
            await services.DisposeAsync();
        }
        finally
        {
            Server.Resume();
        }

        // The connect reached the server (connections other than the harness's were accepted), and then everything it
        // opened was closed: only the harness's own connection, which asks, is left.
        var askedBefore = _asked;
        await Eventually.TrueAsync(async () => await StatAsync("stats", "total_connections_received") - before - (_asked - askedBefore) >= 1, TimeSpan.FromSeconds(30));
        await Eventually.TrueAsync(async () => await StatAsync("clients", "connected_clients") == 1, TimeSpan.FromSeconds(30));
    }

    private async Task<long> StatAsync(string section, string name)
    {
        _asked++;
        var info = await Server.CommandAsync("INFO", section);
        var line = info.Split("\r\n").Single(l => l.StartsWith(name + ":", StringComparison.Ordinal));
        return long.Parse(line[(name.Length + 1)..], CultureInfo.InvariantCulture);
    }
}
