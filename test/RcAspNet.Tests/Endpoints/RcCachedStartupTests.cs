using System.Security.Claims;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Endpoints;

/// <summary>What [RcCached] refuses at start-up, and what it does with a dead store or costs with a live one.</summary>
public sealed class RcCachedStartupTests
{
    private sealed record Filter(int Page);

    private static async Task<string> StartupErrorAsync(Action<WebApplication> map)
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseTestServer();
        builder.Services.AddRcCache(static _ => { });
        await using var app = builder.Build();
        map(app);
        return (await Assert.ThrowsAsync<InvalidOperationException>(() => app.StartAsync())).Message;
    }

    private static async Task<WebApplication> StartAsync(Action<RcOptions> configure, Action<WebApplication> map)
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseTestServer();
        builder.Services.AddRcCache(configure);
        var app = builder.Build();
        map(app);
        await app.StartAsync();
        return app;
    }

    [Fact]
    public async Task AttributeWithoutTheFilter_StopsStartUpNamingTheEndpoint()
    {
        var message = await StartupErrorAsync(static app => app.MapGet("/forgotten", [RcCached] () => "x"));
        Assert.Contains("/forgotten", message, StringComparison.Ordinal);
        Assert.Contains(".CacheResult()", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HandlerThatReturnsNothing_StopsStartUp()
    {
        var message = await StartupErrorAsync(static app => app.MapGet("/void", () => { }).CacheResult());
        Assert.Contains("'HTTP: GET /void'", message, StringComparison.Ordinal);
        Assert.Contains("never carries a cacheable result", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HandlerThatAlwaysReturnsAnError_StopsStartUp() =>
        Assert.Contains("never carries a cacheable result", await StartupErrorAsync(static app => app.MapGet("/gone", () => TypedResults.NotFound()).CacheResult()), StringComparison.Ordinal);

    [Fact]
    public async Task HandlerThatReadsTheUserWithoutOptingIn_StopsStartUp()
    {
        var message = await StartupErrorAsync(static app => app.MapGet("/profile", (ClaimsPrincipal user) => user.Identity?.Name ?? "").CacheResult());
        Assert.Contains("/profile", message, StringComparison.Ordinal);
        Assert.Contains("VaryByUser", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HandlerThatTakesHttpContextWithoutOptingIn_StopsStartUp() =>
        Assert.Contains("HttpContext", await StartupErrorAsync(static app => app.MapGet("/ctx", (HttpContext context) => "x").CacheResult()), StringComparison.Ordinal);

    [Fact]
    public async Task ParameterWithoutAKeyForm_StopsStartUp()
    {
        var message = await StartupErrorAsync(static app => app.MapGet("/filter", ([AsParameters] Filter filter) => "x").CacheResult());
        Assert.Contains("'filter'", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PostOnlyHandlerWithTheAttribute_StopsStartUp() =>
        Assert.Contains("only GET and HEAD", await StartupErrorAsync(static app => app.MapPost("/p", [RcCached] () => "x").CacheResult()), StringComparison.Ordinal);

    [Fact]
    public async Task DeadRedis_LeavesResponsesCorrect()
    {
        var runs = 0;
        await using var app = await StartAsync(
            static o => (o.Store, o.Redis, o.OperationTimeout) = (RcStoreKind.Redis, "127.0.0.1:1,connectTimeout=200", TimeSpan.FromMilliseconds(200)),
            app => app.MapGet("/x/{id:int}", (int id) => $"x{id} #{++runs}").CacheResult());
        using var client = app.GetTestClient();
        Assert.Equal("x1 #1", await client.GetStringAsync("/x/1"));
        Assert.Equal("x1 #2", await client.GetStringAsync("/x/1"));
    }

    [Theory]
    [InlineData(RcFailureMode.Degrade)]
    [InlineData(RcFailureMode.Throw)]
    public async Task DeadRedis_NeverFailsTheResponse(RcFailureMode mode)
    {
        await using var app = await StartAsync(
            o => (o.Store, o.Redis, o.OperationTimeout, o.FailureMode) = (RcStoreKind.Redis, "127.0.0.1:1,connectTimeout=200", TimeSpan.FromMilliseconds(200), mode),
            static app => app.MapGet("/x", () => "fine").CacheResult());
        using var client = app.GetTestClient();
        var response = await client.GetAsync("/x");
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("fine", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task CachedHit_CostsOneStoreRoundTrip()
    {
        await using var server = await RedisServer.StartAsync();
        await using var app = await StartAsync(
            o => TestServices.Redis(o, server),
            static app => app.MapGet("/item/{id:int}", (int id) => new { id, name = "small" }).WithName("Item").CacheResult());
        using var client = app.GetTestClient();
        var miss = await client.GetStringAsync("/item/1");
        await server.ResetStatsAsync();

        var hit = await client.GetAsync("/item/1");
        Assert.Equal("HIT", hit.Headers.GetValues("X-Cache").Single());
        Assert.Equal(miss, await hit.Content.ReadAsStringAsync());
        var stats = await server.CommandStatsAsync();
        stats.Remove("ping");
        Assert.Equal(new Dictionary<string, long> { ["get"] = 1 }, stats);
    }
}
