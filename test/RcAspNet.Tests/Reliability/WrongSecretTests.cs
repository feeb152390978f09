using System.Diagnostics;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Reliability;

/// <summary>
/// An app configured with a wrong password, against servers that require an ACL user: it stores and serves nothing,
/// says so once per server (event 113, at Error), and the secret it was given appears nowhere: in no log record at any
/// level (message or exception), not in the exception <c>FailureMode=Throw</c> surfaces, not in the health check.
/// </summary>
public sealed class WrongSecretTests : IAsyncLifetime
{
    private const string User = "app";
    private const string RightPassword = "right-pw-3b7c10";
    private const string Secret = "wrong-secret-5d2a81";
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private readonly LogRecorder _logs = new();
    private RedisServer[] _servers = [];

    public async Task InitializeAsync() => _servers = await RedisServer.StartManyAsync(3, new RedisSecurity(User, RightPassword));

    public async Task DisposeAsync()
    {
        foreach (var server in _servers)
        {
            await server.DisposeAsync();
        }
    }

    /// <summary>An app with the wrong password on one server (StackExchange.Redis gives up connecting after a second), with the near cache's link.</summary>
    private ServiceProvider OneServer(RcFailureMode mode = RcFailureMode.Degrade) => Services(
        o => (o.Store, o.Redis) = (RcStoreKind.Redis, $"{_servers[0].EndPoint},user={User},password={Secret},connectTimeout=1000"),
        mode);

    /// <summary>An app with the wrong password on every one of three shards.</summary>
    private ServiceProvider ThreeShards() => Services(o =>
    {
        TestServices.Sharded(o, _servers);
        foreach (var shard in o.Shards.Values)
        {
            (shard.User, shard.Password) = (User, Secret);
        }
    });

    private ServiceProvider Services(Action<RcOptions> store, RcFailureMode mode = RcFailureMode.Degrade) => TestServices.Build(
        o =>
        {
            store(o);
            o.Namespace = "s:";
            o.FailureMode = mode;
            o.NearCache.Enabled = true;
            o.CircuitBreakDuration = TimeSpan.FromMilliseconds(200);
        },
        s => s.AddLogging(b => b.AddProvider(_logs).SetMinimumLevel(LogLevel.Trace)).AddHealthChecks().AddRcHealthCheck());

    private async Task AssertNothingInRedisAsync()
    {
        foreach (var server in _servers)
        {
            Assert.Equal(":0\r\n", await server.CommandAsync("DBSIZE"));
        }
    }

    /// <summary>No log record of any category, at any level, names the secret, in its message or its exception.</summary>
    private void AssertSecretNeverLogged()
    {
        Assert.NotEmpty(_logs.Records);
        Assert.DoesNotContain(_logs.Records, static r => r.Message.Contains(Secret, StringComparison.Ordinal) || (r.Exception?.Contains(Secret, StringComparison.Ordinal) ?? false));
    }

    [Fact]
    public async Task WrongPassword_StoresNothing_AndEveryReadMisses()
    {
        await using var services = OneServer();
        var cache = services.GetRequiredService<IDistributedCache>();
        await cache.SetStringAsync("async", "value");
        cache.SetString("sync", "value");

        Assert.Null(await cache.GetStringAsync("async"));
        Assert.Null(cache.GetString("sync"));
        Assert.Null(await cache.GetStringAsync("sync"));
        Assert.Null(cache.GetString("async"));
        await AssertNothingInRedisAsync();
        AssertSecretNeverLogged();
    }

    [Fact]
    public async Task WrongPassword_IsLoggedOncePerServer_AtError()
    {
        await using var services = ThreeShards();
        var cache = services.GetRequiredService<IDistributedCache>();
        var keys = Enumerable.Range(0, 30).Select(static i => $"k{i}").ToArray();
        string[] shards = ["cache01", "cache02", "cache03"];
        var refused = Stopwatch.StartNew();
        while (!shards.All(s => Refusals(s) > 0))
        {
            Assert.True(refused.Elapsed < Deadline, "Not every shard's refusal was reported.");
            foreach (var key in keys)
            {
                await cache.SetStringAsync(key, "value");
                cache.SetString(key, "value");
            }

            await Task.Delay(50);
        }

        // More calls, and several recoveries of each shard, each refused again.
        var recoveries = shards.ToDictionary(s => s, RecoveriesFailed);
        while (!shards.All(s => RecoveriesFailed(s) >= recoveries[s] + 3))
        {
            Assert.True(refused.Elapsed < Deadline * 2, "The shards' circuits were not recovered again.");
            foreach (var key in keys)
            {
                Assert.Null(await cache.GetStringAsync(key));
                Assert.Null(cache.GetString(key));
            }

            await Task.Delay(50);
        }

        Assert.All(shards, s => Assert.Equal(1, Refusals(s)));
        Assert.All(_logs.Records.Where(static r => r.Id.Id == 113), static r =>
        {
            Assert.Equal(("RcAuthenticationFailed", LogLevel.Error), (r.Id.Name, r.Level));
            Assert.Contains("refused this node's user name or password", r.Message, StringComparison.Ordinal);
        });
        await AssertNothingInRedisAsync();
        AssertSecretNeverLogged();
    }

    [Fact]
    public async Task WrongPassword_WithThrow_SurfacesRcCacheException_WithoutTheSecret()
    {
        var exceptions = new List<RcCacheException>();
        await using (var services = OneServer(RcFailureMode.Throw))
        {
            var cache = services.GetRequiredService<IDistributedCache>();
            exceptions.Add(Assert.Throws<RcCacheException>(() => cache.GetString("sync")));
        }

        await using (var services = OneServer(RcFailureMode.Throw))
        {
            // Reads time out while StackExchange.Redis is still connecting; then its refusal surfaces.
            var cache = services.GetRequiredService<IDistributedCache>();
            var connecting = Stopwatch.StartNew();
            do
            {
                Assert.True(connecting.Elapsed < Deadline, "StackExchange.Redis never reported the refusal.");
                exceptions.Add(await Assert.ThrowsAsync<RcCacheException>(() => cache.GetStringAsync("async")));
            }
            while (exceptions[^1].Message.Contains("(timeout)", StringComparison.Ordinal));
        }

        Assert.Contains("'get' on 'redis' failed (authentication)", exceptions[0].Message, StringComparison.Ordinal);
        Assert.Contains("'get' on 'redis' failed (authentication)", exceptions[^1].Message, StringComparison.Ordinal);
        Assert.All(exceptions, static ex =>
        {
            for (Exception? e = ex; e is not null; e = e.InnerException)
            {
                Assert.DoesNotContain(Secret, e.Message, StringComparison.Ordinal);
            }

            Assert.DoesNotContain(Secret, ex.ToString(), StringComparison.Ordinal);
        });
        AssertSecretNeverLogged();
    }

    [Fact]
    public async Task WrongPassword_HealthCheck_SaysAuthenticationFailed_WithoutTheSecret()
    {
        await using var services = OneServer();
        var health = services.GetRequiredService<HealthCheckService>();
        var checking = Stopwatch.StartNew();
        HealthReportEntry entry;
        do
        {
            Assert.True(checking.Elapsed < Deadline, "The health check never said why the server is down.");
            entry = (await health.CheckHealthAsync()).Entries.Single().Value;
        }
        while (!entry.Data.Values.Any(static v => v.ToString()!.Contains("authentication failed", StringComparison.Ordinal)));

        Assert.Equal(HealthStatus.Unhealthy, entry.Status);
        Assert.DoesNotContain(Secret, entry.Description, StringComparison.Ordinal);
        Assert.DoesNotContain(entry.Data, static d => d.Key.Contains(Secret, StringComparison.Ordinal) || d.Value.ToString()!.Contains(Secret, StringComparison.Ordinal));
        Assert.DoesNotContain(Secret, entry.Exception?.ToString() ?? "", StringComparison.Ordinal);
        AssertSecretNeverLogged();
    }

    private int Refusals(string shard) => _logs.Records.Count(r => r.Id.Id == 113 && r.Message.StartsWith($"Cache server {shard} ", StringComparison.Ordinal));

    private int RecoveriesFailed(string shard) => _logs.Records.Count(r => r.Id.Id == 109 && r.Message.StartsWith($"Cache server {shard} ", StringComparison.Ordinal));
}
