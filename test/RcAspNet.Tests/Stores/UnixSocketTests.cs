using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Stores;

/// <summary>
/// rc's <c>unix_socket_path</c>: a shard reached through a real redis-server's unix socket, by the client's
/// asynchronous commands and by the synchronous path, with Redis itself reporting where its clients came from.
/// </summary>
public sealed class UnixSocketTests : IAsyncLifetime
{
    private string _directory = null!;
    private RedisServer _server = null!;

    private string SocketPath => Path.Combine(_directory, "redis.sock");

    public async Task InitializeAsync()
    {
        _directory = Directory.CreateTempSubdirectory("rc-socket-").FullName;
        _server = await RedisServer.StartAsync("--unixsocket", SocketPath, "--unixsocketperm", "700");
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task ShardWithUnixSocketPath_IsReachedThroughTheSocket_AsyncAndSync()
    {
        using var services = TestServices.Build(o =>
        {
            o.Store = RcStoreKind.Sharded;
            o.Namespace = "unix:";
            o.Shards["cache01"] = new RcShardOptions { UnixSocketPath = SocketPath };
        });
        var cache = services.GetRequiredService<IDistributedCache>();

        await cache.SetAsync("async", [1, 2, 3], new DistributedCacheEntryOptions());
        cache.Set("sync", [4, 5], new DistributedCacheEntryOptions());

        Assert.Equal([1, 2, 3], cache.Get("async"));
        Assert.Equal([4, 5], await cache.GetAsync("sync"));
        Assert.Equal(":2\r\n", await _server.CommandAsync("EXISTS", "unix:async", "unix:sync"));

        // Every client but the one asking (this test's, over TCP) came through the socket: the library opened no TCP connection.
        var clients = (await _server.CommandAsync("CLIENT", "LIST"))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(static line => line.Contains("addr=", StringComparison.Ordinal) && !line.Contains("cmd=client|list", StringComparison.Ordinal))
            .ToArray();
        Assert.NotEmpty(clients);
        Assert.All(clients, line => Assert.Contains($"addr={SocketPath}:", line, StringComparison.Ordinal));
    }
}
