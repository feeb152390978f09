using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using RcAspNet.Caching;
using RcAspNet.Stores;

namespace RcAspNet.Tests.Configuration;

/// <summary>Rc:MemorySizeLimit, read from configuration, bounds the embedded store however much is written to it.</summary>
public sealed class MemorySizeLimitTests
{
    private const long Limit = 64 * 1024;

    private static ServiceProvider FromConfiguration(long memorySizeLimit)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Rc:Store"] = "Memory",
                ["Rc:MemorySizeLimit"] = memorySizeLimit.ToString(CultureInfo.InvariantCulture),
                ["Rc:Namespace"] = "limit:",
            })
            .Build();
        var provider = new ServiceCollection().AddRcCache(configuration).BuildServiceProvider(new ServiceProviderOptions { ValidateScopes = true, ValidateOnBuild = true });
        _ = provider.GetRequiredService<IOptions<RcOptions>>().Value;
        return provider;
    }

    private static MemoryStore Store(ServiceProvider services) => Assert.IsType<MemoryStore>(services.GetRequiredService<CacheRegistry>().Stores[0]);

    [Fact]
    public async Task WritesFarPastTheLimit_NeverLeaveMoreThanTheLimitInTheStore()
    {
        await using var services = FromConfiguration(Limit);
        var cache = services.GetRequiredService<IRcCache>();
        var store = Store(services);
        var value = new string('v', 1000);
        long written = 0;
        for (var i = 0; i < 2000; i++)
        {
            await cache.SetAsync($"entry:{i}", value);
            written += value.Length;
            Assert.True(store.Size <= Limit, $"After {i + 1} writes the store holds {store.Size} bytes; the limit is {Limit}.");
        }

        Assert.True(written > 20 * Limit, "The test writes far more than the limit.");
        Assert.True(store.Size > Limit / 2, $"The store keeps what fits: {store.Size} bytes of {Limit}.");
    }

    [Fact]
    public async Task WritesFarPastTheLimit_KeepTheLatestEntries()
    {
        await using var services = FromConfiguration(Limit);
        var cache = services.GetRequiredService<IRcCache>();
        var value = new string('v', 1000);
        for (var i = 0; i < 2000; i++)
        {
            await cache.SetAsync($"entry:{i}", value);
        }

        Assert.Equal(value, await cache.GetAsync<string>("entry:1999"));
        Assert.Null(await cache.GetAsync<string>("entry:0"));
    }
}
