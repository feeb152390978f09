using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Endpoints;

/// <summary>An [RcCached] on a handler wins over the <c>.CacheResult(s => ...)</c> settings of its group or its route.</summary>
public sealed class AttributeOverConventionTests : IAsyncLifetime
{
    private readonly ManualTimeProvider _time = new();
    private readonly int[] _runs = new int[3];
    private WebApplication? _app;

    private IRcCache Cache => _app!.Services.GetRequiredService<IRcCache>();

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseTestServer();
        builder.Services.AddSingleton<TimeProvider>(_time);
        builder.Services.AddRcCache(static o => o.Namespace = "convention:");
        _app = builder.Build();
        _app.UseRcCache();
        var group = _app.MapGroup("/g").CacheResult(static s => (s.KeyPrefix, s.ExpirationSeconds) = ("Group", 3600));
        group.MapGet("/own/{id:int}", [RcCached(KeyPrefix = "Own", ExpirationSeconds = 60)] (int id) => $"own {id} #{Interlocked.Increment(ref _runs[0])}");
        group.MapGet("/plain/{id:int}", (int id) => $"plain {id} #{Interlocked.Increment(ref _runs[1])}");
        _app.MapGet("/route/{id:int}", [RcCached(KeyPrefix = "OwnRoute")] (int id) => $"route {id} #{Interlocked.Increment(ref _runs[2])}")
            .CacheResult(static s => s.KeyPrefix = "Route");
        await _app.StartAsync();
    }

    public async Task DisposeAsync() => await _app!.DisposeAsync();

    private async Task<(string Body, string Status)> GetAsync(string path)
    {
        using var client = _app!.GetTestClient();
        using var response = await client.GetAsync(path);
        return (await response.Content.ReadAsStringAsync(), response.Headers.GetValues("X-Cache").Single());
    }

    [Fact]
    public async Task AttributeKeyPrefix_NamesTheEntryInsteadOfTheGroups()
    {
        Assert.Equal(("own 1 #1", "MISS"), await GetAsync("/g/own/1"));
        Assert.Equal(("own 1 #1", "HIT"), await GetAsync("/g/own/1"));
        Assert.True(await Cache.ExistsAsync(RcKey.For("Own", 1)));
        Assert.False(await Cache.ExistsAsync(RcKey.For("Group", 1)));
    }

    [Fact]
    public async Task HandlerWithoutAttribute_KeepsTheGroupsSettings()
    {
        Assert.Equal(("plain 1 #1", "MISS"), await GetAsync("/g/plain/1"));
        Assert.Equal(("plain 1 #1", "HIT"), await GetAsync("/g/plain/1"));
        Assert.True(await Cache.ExistsAsync(RcKey.For("Group", 1)));
        _time.Advance(TimeSpan.FromSeconds(61));
        Assert.Equal(("plain 1 #1", "HIT"), await GetAsync("/g/plain/1"));
    }

    [Fact]
    public async Task AttributeExpiration_ReplacesTheGroups()
    {
        Assert.Equal(("own 2 #1", "MISS"), await GetAsync("/g/own/2"));
        _time.Advance(TimeSpan.FromSeconds(59));
        Assert.Equal(("own 2 #1", "HIT"), await GetAsync("/g/own/2"));
        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(("own 2 #2", "MISS"), await GetAsync("/g/own/2"));
    }

    [Fact]
    public async Task AttributeKeyPrefix_NamesTheEntryInsteadOfItsRoutes()
    {
        Assert.Equal(("route 1 #1", "MISS"), await GetAsync("/route/1"));
        Assert.Equal(("route 1 #1", "HIT"), await GetAsync("/route/1"));
        Assert.True(await Cache.ExistsAsync(RcKey.For("OwnRoute", 1)));
        Assert.False(await Cache.ExistsAsync(RcKey.For("Route", 1)));
    }
}
