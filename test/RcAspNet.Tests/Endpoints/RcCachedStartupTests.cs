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

    private static async Task<string> StartupErrorAsync(Action<WebApplication> map, bool useRcCache = true)
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseTestServer();
        builder.Services.AddRcCache(static _ => { });
        await using var app = builder.Build();
        if (useRcCache)
        {
            app.UseRcCache();
        }

        map(app);
        return (await Assert.ThrowsAsync<InvalidOperationException>(() => app.StartAsync())).Message;
    }

    private static async Task<WebApplication> StartAsync(Action<RcOptions> configure, Action<WebApplication> map)
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseTestServer();
        builder.Services.AddRcCache(o =>
        {
            // These tests are about start-up and behaviour, not faults: a slow moment of a loaded machine must not
            // turn a write into a timeout (the hit after it would then be a miss).
            o.OperationTimeout = TimeSpan.FromSeconds(10);
            configure(o);
        });
        var app = builder.Build();
        app.UseRcCache();
        map(app);
        await app.StartAsync();
        return app;
    }

    [Fact]
    public async Task AttributeAlone_WithUseRcCache_CachesEveryHandler()
    {
        var runs = new int[5];
        await using var app = await StartAsync(static _ => { }, app =>
        {
            app.MapGet("/a/{id:int}", [RcCached] (int id) => $"a{id} {++runs[0]}");
            app.MapGet("/b", [RcCached(ExpirationSeconds = 60)] (string? q) => $"b{q} {++runs[1]}");
            app.MapGet("/c/{name}", [RcCached(KeyPrefix = "C")] (string name) => $"c{name} {++runs[2]}");
            app.MapGet("/d", [RcCached(UserScope = RcUserScope.Shared)] () => $"d {++runs[3]}");
            app.MapGet("/e/{id:guid}", [RcCached(Tags = ["e"])] (Guid id) => $"e {++runs[4]}");
        });
        using var client = app.GetTestClient();
        foreach (var path in new[] { "/a/1", "/b?q=x", "/c/n", "/d", "/e/9f0c5b43-3d1f-4e0e-9b1e-6f1f6d0f2a11" })
        {
            var miss = await client.GetAsync(path);
            var hit = await client.GetAsync(path);
            Assert.Equal("MISS", miss.Headers.GetValues("X-Cache").Single());
            Assert.Equal("HIT", hit.Headers.GetValues("X-Cache").Single());
            Assert.Equal(await miss.Content.ReadAsStringAsync(), await hit.Content.ReadAsStringAsync());
        }

        Assert.All(runs, static n => Assert.Equal(1, n));
    }

    [Fact]
    public async Task AttributeWithoutUseRcCache_StopsStartUpNamingTheEndpointAndTheFix()
    {
        var message = await StartupErrorAsync(static app => app.MapGet("/forgotten", [RcCached] () => "x"), useRcCache: false);
        Assert.Contains("GET:/forgotten", message, StringComparison.Ordinal);
        Assert.Contains("app.UseRcCache()", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CacheResultWithoutUseRcCache_StopsStartUp() =>
        Assert.Contains("app.UseRcCache()", await StartupErrorAsync(static app => app.MapGet("/configured", () => "x").CacheResult(), useRcCache: false), StringComparison.Ordinal);

    [Fact]
    public async Task TagNamingAnUnknownArgument_StopsStartUp()
    {
        var message = await StartupErrorAsync(static app => app.MapGet("/t/{id:int}", [RcCached(Tags = ["item:{slug}"])] (int id) => "x"));
        Assert.Contains("'{slug}'", message, StringComparison.Ordinal);
        Assert.Contains("id", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BadLoadingSettings_StopStartUpNamingEachOne()
    {
        var message = await StartupErrorAsync(static app => app.MapGet(
            "/loading",
            [RcCached(FailSafeMaxDurationSeconds = -1, FailSafeThrottleDurationSeconds = 0, FactorySoftTimeoutMilliseconds = 500, FactoryHardTimeoutMilliseconds = 100, EagerRefreshThreshold = 1)] () => "x"));
        Assert.Contains("GET /loading", message, StringComparison.Ordinal);
        Assert.Contains("FailSafeMaxDurationSeconds is -1", message, StringComparison.Ordinal);
        Assert.Contains("FailSafeThrottleDurationSeconds is 0", message, StringComparison.Ordinal);
        Assert.Contains("FactorySoftTimeoutMilliseconds (500) is not shorter than FactoryHardTimeoutMilliseconds (100)", message, StringComparison.Ordinal);
        Assert.Contains("EagerRefreshThreshold is 1;", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TwoHandlersWithOneIdentity_StopStartUp_NamingBoth()
    {
        // A group's prefix given to each of its endpoints: their entries would share keys.
        var message = await StartupErrorAsync(static app =>
        {
            var v1 = app.MapGroup("/v1").CacheResult(static s => s.KeyPrefix = "v1");
            v1.MapGet("/posts/{id:int}", (int id) => $"post {id}");
            v1.MapGet("/users/{id:int}", (int id) => $"user {id}");
        });
        Assert.Contains("/v1/posts/{id:int}", message, StringComparison.Ordinal);
        Assert.Contains("/v1/users/{id:int}", message, StringComparison.Ordinal);
        Assert.Contains("one identity, 'v1'", message, StringComparison.Ordinal);
        Assert.Contains("KeyPrefix", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EveryBrokenEndpoint_IsNamedInOneMessage()
    {
        var message = await StartupErrorAsync(static app =>
        {
            app.MapGet("/one", [RcCached] (HttpContext context) => "x");
            app.MapGet("/two", [RcCached] () => { });
        });
        Assert.Contains("/one", message, StringComparison.Ordinal);
        Assert.Contains("/two", message, StringComparison.Ordinal);
    }

    /// <summary>However the endpoint's authorization is required: its metadata, a policy object, or the app's fallback policy.</summary>
    [Theory]
    [InlineData("metadata")]
    [InlineData("policy")]
    [InlineData("requirement")]
    [InlineData("fallback")]
    public async Task UseRcCacheBeforeUseAuthorization_NeverServesAHitWithoutAuthorization(string required)
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseTestServer();
        builder.Services.AddRcCache(static _ => { });
        builder.Services.AddAuthentication("Test").AddScheme<Microsoft.AspNetCore.Authentication.AuthenticationSchemeOptions, RcAspNet.TestApp.TestAuthentication>("Test", null);
        var authenticated = new Microsoft.AspNetCore.Authorization.AuthorizationPolicyBuilder().RequireAuthenticatedUser().Build();
        builder.Services.AddAuthorization(o => o.FallbackPolicy = required == "fallback" ? authenticated : null);
        await using var app = builder.Build();
        app.UseRouting();
        app.UseRcCache();
        app.UseAuthentication();
        app.UseAuthorization();
        var runs = 0;
        var secret = app.MapGet("/secret", [RcCached(UserScope = RcUserScope.Shared)] () => $"secret {++runs}");
        _ = required switch
        {
            "metadata" => secret.RequireAuthorization(),
            "policy" => secret.WithMetadata(authenticated),
            "requirement" => secret.WithMetadata(new SignedInAttribute()),
            _ => secret,
        };
        await app.StartAsync();
        using var client = app.GetTestClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/secret");
        request.Headers.Add("X-Test-User", "alice");
        Assert.Equal("secret 1", await (await client.SendAsync(request)).Content.ReadAsStringAsync());

        var anonymous = await client.GetAsync("/secret");
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, anonymous.StatusCode);
    }

    /// <summary>The start-up error of an app that maps <paramref name="controller"/> alone, with MVC's options as given.</summary>
    private static async Task<string> MvcStartupErrorAsync(Type controller, Action<Microsoft.AspNetCore.Mvc.MvcOptions>? mvc = null)
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseTestServer();
        builder.Services.AddRcCache(static _ => { });
        builder.Services.AddAuthorization();
        builder.Services.AddControllers(o => mvc?.Invoke(o))
            .ConfigureApplicationPartManager(parts =>
            {
                parts.ApplicationParts.Clear();
                parts.FeatureProviders.Add(new OnlyController(controller));
                parts.ApplicationParts.Add(new Microsoft.AspNetCore.Mvc.ApplicationParts.AssemblyPart(controller.Assembly));
            });
        await using var app = builder.Build();
        app.UseRcCache();
        app.MapControllers();
        return (await Assert.ThrowsAsync<InvalidOperationException>(() => app.StartAsync())).Message;
    }

    [Fact]
    public async Task ASharedActionThatAnMvcAuthorizeFilterAuthorizes_StopsStartUp()
    {
        // A global AuthorizeFilter authorizes inside the endpoint, after the cache: a shared hit would skip it.
        var message = await MvcStartupErrorAsync(typeof(SharedReportController), static o => o.Filters.Add(new Microsoft.AspNetCore.Mvc.Authorization.AuthorizeFilter()));
        Assert.Contains("SharedReport", message, StringComparison.Ordinal);
        Assert.Contains("AuthorizeFilter", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ActionsThatAnMvcAuthorizationFilterGuards_StopStartUp_InEveryScope()
    {
        // An API key is checked inside the endpoint, whoever the user is: a hit of any scope would skip it.
        var message = await MvcStartupErrorAsync(typeof(GuardedReportController));
        Assert.Contains("GuardedReportController.ByKey", message, StringComparison.Ordinal);
        Assert.Contains("GuardedReportController.ByTypedKey", message, StringComparison.Ordinal);
        Assert.Contains("ApiKeyAttribute runs inside the endpoint", message, StringComparison.Ordinal);

        // [RequireHttps] is not refused: an app that requires HTTPS redirects to it before the cache.
        Assert.DoesNotContain("OverHttps", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnArgumentThatAModelBinderOfTheAppsBinds_StopsStartUp()
    {
        // The binder reads the host: keyed by a route or query value named "tenant", every tenant would share one entry.
        var message = await MvcStartupErrorAsync(typeof(TenantReportController));
        Assert.Contains("TenantReport", message, StringComparison.Ordinal);
        Assert.Contains("'tenant' is bound by a model binder of its own", message, StringComparison.Ordinal);
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
        Assert.Contains("RcUserScope.PerUser", message, StringComparison.Ordinal);
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
        Assert.Contains("only GET and HEAD", await StartupErrorAsync(static app => app.MapPost("/p", [RcCached] () => "x")), StringComparison.Ordinal);

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

    /// <summary>Requires a signed-in user through <see cref="Microsoft.AspNetCore.Authorization.IAuthorizationRequirementData"/> alone.</summary>
    private sealed class SignedInAttribute : Attribute, Microsoft.AspNetCore.Authorization.IAuthorizationRequirementData
    {
        public IEnumerable<Microsoft.AspNetCore.Authorization.IAuthorizationRequirement> GetRequirements() =>
            [new Microsoft.AspNetCore.Authorization.Infrastructure.DenyAnonymousAuthorizationRequirement()];
    }

    /// <summary>Finds <paramref name="controller"/> alone among the test assembly's types.</summary>
    private sealed class OnlyController(Type controller) : Microsoft.AspNetCore.Mvc.Controllers.ControllerFeatureProvider
    {
        protected override bool IsController(System.Reflection.TypeInfo typeInfo) => typeInfo.AsType() == controller;
    }
}
