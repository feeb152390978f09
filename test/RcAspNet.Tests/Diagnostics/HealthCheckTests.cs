using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Diagnostics;

/// <summary>The health check over the default cache's store and named caches' own stores.</summary>
public sealed class HealthCheckTests
{
    private static async Task<HealthReportEntry> CheckAsync(Action<RcOptions> configure)
    {
        await using var services = TestServices.Build(configure, s => s.AddHealthChecks().AddRcHealthCheck());
        return (await services.GetRequiredService<HealthCheckService>().CheckHealthAsync()).Entries.Single().Value;
    }

    [Theory]
    [InlineData(RcStoreKind.Redis, "redis")]
    [InlineData(RcStoreKind.Memory, "memory")]
    public async Task NamedCacheWithAStoreOfTheDefaultsKind_ReportsBothServers(RcStoreKind kind, string server)
    {
        var redis = (await SharedRedis.Single).EndPoint;
        var entry = await CheckAsync(o =>
        {
            o.Store = kind;
            o.Redis = redis;
            o.Namespace = SharedRedis.UniqueNamespace();
            o.Caches["pages"] = new RcNamedCacheOptions { Store = kind, Redis = redis };
        });

        Assert.Equal(HealthStatus.Healthy, entry.Status);
        Assert.Equal(new[] { server, $"pages/{server}" }.Order(StringComparer.Ordinal), entry.Data.Keys.Order(StringComparer.Ordinal));
        Assert.All(entry.Data.Values, v => Assert.StartsWith("up", (string)v, StringComparison.Ordinal));
    }

    [Fact]
    public async Task NamedCachesStoreDown_IsDegraded_AndNamedInTheData()
    {
        var server = await SharedRedis.Single;
        var entry = await CheckAsync(o =>
        {
            TestServices.Redis(o, server);
            o.Namespace = SharedRedis.UniqueNamespace();
            o.OperationTimeout = TimeSpan.FromMilliseconds(500);
            o.Caches["pages"] = new RcNamedCacheOptions { Store = RcStoreKind.Redis, Redis = $"127.0.0.1:{RedisServer.FreePort()},connectTimeout=500" };
        });

        Assert.Equal(HealthStatus.Degraded, entry.Status);
        Assert.StartsWith("up", (string)entry.Data["redis"], StringComparison.Ordinal);
        Assert.StartsWith("down", (string)entry.Data["pages/redis"], StringComparison.Ordinal);
    }
}
