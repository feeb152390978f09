using System.Diagnostics;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Stores;

/// <summary>
/// Every path to Redis on servers that require what managed Redis requires (a password, an ACL user with the default
/// user turned off, TLS with a private authority; one server, shards and a cluster): asynchronous calls through
/// StackExchange.Redis, synchronous calls through the library's own blocking connections, the link each node keeps to
/// each server (which carries the near cache's invalidations), and a batch. Redis itself says what it holds.
/// </summary>
public abstract class SecuredServerTests : IAsyncLifetime
{
    protected const string User = "app";
    protected const string Password = "pw-9c1e7f";

    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private readonly List<ServiceProvider> _nodes = [];

    protected RedisServer[] Servers { get; private set; } = [];

    protected string Ns { get; } = SharedRedis.UniqueNamespace();

    public async Task InitializeAsync() => Servers = await StartServersAsync();

    public async Task DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }

        await StopServersAsync();
    }

    protected abstract Task<RedisServer[]> StartServersAsync();

    protected abstract Task StopServersAsync();

    /// <summary>Points the options at the servers, with the credentials and TLS settings they require.</summary>
    protected abstract void Store(RcOptions options);

    /// <summary>An app instance on the servers.</summary>
    protected ServiceProvider Node(bool nearCache = false)
    {
        var node = TestServices.Build(o =>
        {
            Store(o);
            o.Namespace = Ns;
            o.NearCache.Enabled = nearCache;
        });
        _nodes.Add(node);
        return node;
    }

    /// <summary>How many keys of the test's namespace the servers hold, as they say themselves.</summary>
    protected async Task<int> KeysInRedisAsync()
    {
        var count = 0;
        foreach (var server in Servers)
        {
            count += (await server.CommandAsync("KEYS", Ns + "*")).Split('\n').Count(static l => l.StartsWith('$'));
        }

        return count;
    }

    [Fact]
    public async Task AsyncCalls_WriteReadAndRemove()
    {
        var cache = Node().GetRequiredService<IDistributedCache>();
        for (var i = 0; i < 20; i++)
        {
            await cache.SetStringAsync($"async{i}", $"value {i}");
        }

        for (var i = 0; i < 20; i++)
        {
            Assert.Equal($"value {i}", await cache.GetStringAsync($"async{i}"));
        }

        Assert.Equal(20, await KeysInRedisAsync());
        for (var i = 0; i < 20; i++)
        {
            await cache.RemoveAsync($"async{i}");
        }

        Assert.Null(await cache.GetStringAsync("async0"));
        Assert.Equal(0, await KeysInRedisAsync());
    }

    [Fact]
    public async Task SyncCalls_WriteReadAndRemove()
    {
        var cache = Node().GetRequiredService<IDistributedCache>();
        for (var i = 0; i < 20; i++)
        {
            cache.SetString($"sync{i}", $"value {i}");
        }

        for (var i = 0; i < 20; i++)
        {
            Assert.Equal($"value {i}", cache.GetString($"sync{i}"));
        }

        Assert.Equal(20, await KeysInRedisAsync());
        for (var i = 0; i < 20; i++)
        {
            cache.Remove($"sync{i}");
        }

        Assert.Null(cache.GetString("sync0"));
        Assert.Equal(0, await KeysInRedisAsync());
    }

    [Fact]
    public async Task NearCacheHit_IsInvalidatedByAnotherClientsWrite()
    {
        var node = Node(nearCache: true);
        var cache = node.GetRequiredService<IDistributedCache>();
        await cache.SetStringAsync("hot", "before");

        // Served from memory: the link to the key's server is up, so it authenticated (and negotiated TLS).
        using (var metrics = new MetricsRecorder(node))
        {
            var warming = Stopwatch.StartNew();
            while (metrics.Sum("rc.near.hits") == 0)
            {
                Assert.True(warming.Elapsed < Deadline, "The near cache never answered: the link to the server did not come up.");
                Assert.Equal("before", await cache.GetStringAsync("hot"));
                await Task.Delay(20);
            }
        }

        // Another client writes, with the server's own credentials: Redis tells the link, and the copy goes.
        Assert.Equal("+OK\r\n", await ServerOf("hot").CommandAsync("SET", Ns + "hot", "after"));
        var invalidating = Stopwatch.StartNew();
        while (await cache.GetStringAsync("hot") != "after")
        {
            Assert.True(invalidating.Elapsed < Deadline, "A copy kept being served after another client changed the key.");
            await Task.Delay(5);
        }

        for (var i = 0; i < 20; i++)
        {
            Assert.Equal("after", await cache.GetStringAsync("hot"));
            Assert.Equal("after", cache.GetString("hot"));
        }
    }

    [Fact]
    public async Task BatchFlush_ReadsEveryServerAndWritesBack()
    {
        var node = Node();
        var loads = 0;
        ValueTask<string> Load(int i)
        {
            Interlocked.Increment(ref loads);
            return ValueTask.FromResult($"post {i}");
        }

        for (var round = 0; round < 2; round++)
        {
            await using var scope = node.CreateAsyncScope();
            var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
            var promises = Enumerable.Range(0, 20).Select(i => batch.Load($"post:{i}", _ => Load(i))).ToArray();
            await batch.FlushAsync();
            Assert.Equal(Enumerable.Range(0, 20).Select(static i => $"post {i}"), promises.Select(static p => p.Value));
        }

        // The first flush missed and wrote every entry back; the second found them all.
        Assert.Equal(20, loads);
        Assert.Equal(20, await KeysInRedisAsync());
    }

    /// <summary>The server that holds <paramref name="key"/> (on a cluster, the others answer MOVED).</summary>
    private RedisServer ServerOf(string key)
    {
        foreach (var server in Servers)
        {
            if (server.CommandAsync("EXISTS", Ns + key).GetAwaiter().GetResult().StartsWith(":1", StringComparison.Ordinal))
            {
                return server;
            }
        }

        throw new InvalidOperationException($"No server holds {key}.");
    }
}

/// <summary>One server with <c>requirepass</c>, its password in the configuration string.</summary>
public sealed class PasswordServerTests : SecuredServerTests
{
    protected override async Task<RedisServer[]> StartServersAsync() => [await RedisServer.StartAsync(new RedisSecurity(null, Password))];

    protected override async Task StopServersAsync() => await Servers[0].DisposeAsync();

    protected override void Store(RcOptions options) => (options.Store, options.Redis) = (RcStoreKind.Redis, $"{Servers[0].EndPoint},password={Password}");
}

/// <summary>One server whose default user is off and whose only user is an ACL user, named in the configuration string.</summary>
public sealed class AclUserServerTests : SecuredServerTests
{
    protected override async Task<RedisServer[]> StartServersAsync() => [await RedisServer.StartAsync(new RedisSecurity(User, Password))];

    protected override async Task StopServersAsync() => await Servers[0].DisposeAsync();

    protected override void Store(RcOptions options) => (options.Store, options.Redis) = (RcStoreKind.Redis, $"{Servers[0].EndPoint},user={User},password={Password}");
}

/// <summary>Three shards with an ACL user each: <c>Rc:Shards:{name}:User</c> and <c>Password</c>.</summary>
public sealed class AclUserShardTests : SecuredServerTests
{
    protected override Task<RedisServer[]> StartServersAsync() => RedisServer.StartManyAsync(3, new RedisSecurity(User, Password));

    protected override async Task StopServersAsync()
    {
        foreach (var server in Servers)
        {
            await server.DisposeAsync();
        }
    }

    protected override void Store(RcOptions options)
    {
        TestServices.Sharded(options, Servers);
        foreach (var shard in options.Shards.Values)
        {
            (shard.User, shard.Password) = (User, Password);
        }
    }
}

/// <summary>
/// A three-primary Redis Cluster whose nodes require a password (<c>requirepass</c> and <c>masterauth</c>), made with
/// <c>redis-cli -a</c>: the synchronous client follows MOVED replies to nodes it must authenticate to as well.
/// </summary>
public sealed class PasswordClusterTests : SecuredServerTests
{
    private RedisClusterServers _cluster = null!;

    protected override async Task<RedisServer[]> StartServersAsync() => [.. (_cluster = await RedisClusterServers.StartAsync(new RedisSecurity(null, Password))).Nodes];

    protected override async Task StopServersAsync() => await _cluster.DisposeAsync();

    protected override void Store(RcOptions options) => (options.Store, options.Redis) = (RcStoreKind.Redis, $"{_cluster.Configuration},password={Password}");
}

/// <summary>
/// One server that speaks only TLS, with a certificate of a private authority issued for <c>localhost</c> and reached
/// at 127.0.0.1: the configuration string says <c>ssl=true,sslHost=localhost</c>, and <c>Rc:SslCaFile</c> names the
/// authority, which nothing else trusts.
/// </summary>
public sealed class TlsServerTests : SecuredServerTests
{
    private TestCertificates _certificates = null!;

    protected override async Task<RedisServer[]> StartServersAsync()
    {
        _certificates = await TestCertificates.CreateAsync();
        return [await RedisServer.StartAsync(new RedisSecurity(null, Password, _certificates))];
    }

    protected override async Task StopServersAsync()
    {
        await Servers[0].DisposeAsync();
        _certificates.Dispose();
    }

    protected override void Store(RcOptions options)
    {
        (options.Store, options.Redis) = (RcStoreKind.Redis, $"{Servers[0].EndPoint},ssl=true,sslHost={_certificates.HostName},password={Password}");
        options.SslCaFile = _certificates.AuthorityFile;
    }
}

/// <summary>Two TLS shards with an ACL user, as a managed Redis gives them: <c>User</c>, <c>Password</c>, <c>Ssl</c> and <c>SslHost</c>.</summary>
public sealed class TlsShardTests : SecuredServerTests
{
    private TestCertificates _certificates = null!;

    protected override async Task<RedisServer[]> StartServersAsync()
    {
        _certificates = await TestCertificates.CreateAsync();
        return await RedisServer.StartManyAsync(2, new RedisSecurity(User, Password, _certificates));
    }

    protected override async Task StopServersAsync()
    {
        foreach (var server in Servers)
        {
            await server.DisposeAsync();
        }

        _certificates.Dispose();
    }

    protected override void Store(RcOptions options)
    {
        TestServices.Sharded(options, Servers);
        foreach (var shard in options.Shards.Values)
        {
            (shard.User, shard.Password, shard.Ssl, shard.SslHost) = (User, Password, true, _certificates.HostName);
        }

        options.SslCaFile = _certificates.AuthorityFile;
    }
}
