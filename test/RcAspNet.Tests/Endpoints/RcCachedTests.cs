using System.Net;
using System.Net.Http.Headers;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Endpoints;

/// <summary>[RcCached] on the test app, run against every store.</summary>
public abstract class RcCachedTests : IAsyncLifetime
{
    private TestAppFactory? _app;

    protected TestAppFactory App => _app!;

    public async Task InitializeAsync()
    {
        var settings = await SettingsAsync();
        settings["Rc:Namespace"] = SharedRedis.UniqueNamespace();
        settings["Rc:Caches:templates:Namespace"] = SharedRedis.UniqueNamespace();
        _app = new TestAppFactory(settings);
        _ = _app.Server;
    }

    public async Task DisposeAsync() => await App.DisposeAsync();

    protected abstract Task<Dictionary<string, string?>> SettingsAsync();

    private async Task<(HttpResponseMessage Response, string Body)> GetAsync(string path, string? user = null, string? authorization = null, string? tenant = null)
    {
        using var client = App.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (user is not null)
        {
            request.Headers.Add("X-Test-User", user);
        }

        if (authorization is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", authorization);
        }

        if (tenant is not null)
        {
            request.Headers.Add("X-Tenant", tenant);
        }

        var response = await client.SendAsync(request);
        return (response, await response.Content.ReadAsStringAsync());
    }

    private static string? CacheStatus(HttpResponseMessage response) =>
        response.Headers.TryGetValues("X-Cache", out var values) ? values.Single() : null;

    [Fact]
    public async Task RepeatedRequests_RunTheHandlerOnce()
    {
        var first = await GetAsync("/hello/bob");
        var second = await GetAsync("/hello/bob");
        Assert.Equal("Hello bob #1", first.Body);
        Assert.Equal(first.Body, second.Body);
        Assert.Equal(1, App.Counters.Get("hello"));
        Assert.Equal("MISS", CacheStatus(first.Response));
        Assert.Equal("HIT", CacheStatus(second.Response));
    }

    [Fact]
    public async Task Hit_IsAnsweredBeforeParameterBinding()
    {
        await GetAsync("/front/3?q=x");
        var hit = await GetAsync("/front/3?q=x");
        var other = await GetAsync("/front/3?q=y");
        await GetAsync("/front/3");
        var noQueryAgain = await GetAsync("/front/3");
        Assert.Equal("front 3 x #1", hit.Body);
        Assert.Equal("HIT", CacheStatus(hit.Response));
        Assert.Equal("front 3 y #2", other.Body);
        Assert.Equal("front 3  #3", noQueryAgain.Body);
        Assert.Equal(3, App.Counters.Get("front"));
        Assert.Equal(3, App.Counters.Get("expensive"));
        Assert.True(await App.Cache.ExistsAsync(RcKey.For("GET:/front/{id:int}", 3, "x")));
        Assert.True(await App.Cache.ExistsAsync(RcKey.For("GET:/front/{id:int}", 3, null)));
    }

    [Fact]
    public async Task DifferentArguments_MakeDifferentEntries()
    {
        await GetAsync("/hello/bob");
        await GetAsync("/hello/ann");
        await GetAsync("/hello/bob");
        Assert.Equal(2, App.Counters.Get("hello"));
    }

    [Fact]
    public async Task QueryHeaderAndArrayArguments_AreKeyed()
    {
        string[] paths = ["/search?q=a&page=1", "/search?q=a&page=2", "/search?q=b&page=1", "/search?q=a&page=1&tag=1&tag=2", "/search?q=a&page=1&tag=1"];
        foreach (var path in paths.Concat(paths))
        {
            await GetAsync(path);
        }

        await GetAsync("/search?q=a&page=1", tenant: "acme");
        var acme = await GetAsync("/search?q=a&page=1", tenant: "acme");
        Assert.Equal("a|1||acme|6", acme.Body);
        Assert.Equal(6, App.Counters.Get("search"));
    }

    [Fact]
    public async Task Hit_HasTheSameBytesStatusAndContentTypeAsTheMiss()
    {
        foreach (var path in new[] { "/post/1", "/items/1", "/typed/1", "/hello/x" })
        {
            var miss = await GetAsync(path);
            var hit = await GetAsync(path);
            Assert.Equal("HIT", CacheStatus(hit.Response));
            Assert.Equal(HttpStatusCode.OK, hit.Response.StatusCode);
            Assert.Equal(miss.Response.StatusCode, hit.Response.StatusCode);
            Assert.Equal(miss.Response.Content.Headers.ContentType?.ToString(), hit.Response.Content.Headers.ContentType?.ToString());
            Assert.Equal(miss.Body, hit.Body);
        }

        Assert.Equal("text/html; charset=utf-8", (await GetAsync("/post/1")).Response.Content.Headers.ContentType?.ToString());
        Assert.StartsWith("application/json", (await GetAsync("/items/1")).Response.Content.Headers.ContentType?.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Invalidate_ByNameAndArguments_RemovesExactlyThatEntry()
    {
        await GetAsync("/post/5");
        await GetAsync("/post/6");
        Assert.True(await App.Cache.InvalidateAsync("ShowPost", 5));
        var again = await GetAsync("/post/5");
        await GetAsync("/post/6");
        Assert.Equal("MISS", CacheStatus(again.Response));
        Assert.Equal(3, App.Counters.Get("post"));
    }

    [Fact]
    public async Task EndpointWithoutName_IsKeyedByMethodAndRoutePattern()
    {
        await GetAsync("/items/7");
        Assert.False(await App.Cache.ExistsAsync(RcKey.For("GET:/items/{id:int}", 7)));
        Assert.True(await App.Cache.ExistsAsync(RcKey.For("GetItem", 7)));
        await GetAsync("/slow/7");
        Assert.True(await App.Cache.ExistsAsync(RcKey.For("GET:/slow/{id:int}", 7)));
    }

    [Fact]
    public async Task Expire_EndsTheEntry()
    {
        await GetAsync("/short");
        await GetAsync("/short");
        await Task.Delay(1300);
        await GetAsync("/short");
        Assert.Equal(2, App.Counters.Get("short"));
    }

    [Theory]
    [InlineData("/post/1000", "post")]
    [InlineData("/typed/-1", "typed")]
    [InlineData("/problem", "problem")]
    [InlineData("/maybe/0", "maybe")]
    [InlineData("/cookie", "cookie")]
    public async Task ErrorsBypassValuesAndCookies_AreNotStored(string path, string counter)
    {
        var first = await GetAsync(path);
        var second = await GetAsync(path);
        Assert.Equal(2, App.Counters.Get(counter));
        Assert.Equal("MISS", CacheStatus(second.Response));
        Assert.Equal(first.Response.StatusCode, second.Response.StatusCode);
    }

    [Fact]
    public async Task Post_IsNotCached()
    {
        using var client = App.CreateClient();
        await client.PostAsync("/hello/bob", null);
        var second = await client.PostAsync("/hello/bob", null);
        Assert.Equal("Posted bob #2", await second.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task AuthenticatedRequest_IsNeitherServedNorStored()
    {
        var anonymous = await GetAsync("/news");
        var alice = await GetAsync("/news", user: "alice");
        var bearer = await GetAsync("/news", authorization: "token");
        var anonymousAgain = await GetAsync("/news");
        Assert.Equal("news #1", anonymous.Body);
        Assert.Equal("news #2", alice.Body);
        Assert.Equal("news #3", bearer.Body);
        Assert.Equal("news #1", anonymousAgain.Body);
        Assert.Equal("HIT", CacheStatus(anonymousAgain.Response));
    }

    [Fact]
    public async Task VaryByUser_NeverShowsOneUsersResultToAnother()
    {
        var alice = await GetAsync("/me", user: "alice");
        var bob = await GetAsync("/me", user: "bob");
        var aliceAgain = await GetAsync("/me", user: "alice");
        var anonymous = await GetAsync("/me");
        Assert.Equal("alice #1", alice.Body);
        Assert.Equal("bob #2", bob.Body);
        Assert.Equal("alice #1", aliceAgain.Body);
        Assert.Equal("HIT", CacheStatus(aliceAgain.Response));
        Assert.Equal("anonymous #3", anonymous.Body);
        Assert.True(await App.Cache.ExistsAsync(RcKey.For("GET:/me", "alice")));
    }

    [Fact]
    public async Task PublicEndpoint_IsSharedByAuthenticatedUsers()
    {
        await GetAsync("/public", user: "alice");
        var bob = await GetAsync("/public", user: "bob");
        Assert.Equal("public #1", bob.Body);
    }

    [Fact]
    public async Task ConcurrentMisses_RunTheHandlerOnce()
    {
        var responses = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => GetAsync("/slow/1")));
        Assert.All(responses, static r => Assert.Equal("slow 1 #1", r.Body));
        Assert.Equal(1, App.Counters.Get("slow"));
    }

    [Fact]
    public async Task HeadRequest_IsServedFromTheEntryWithoutABody()
    {
        await GetAsync("/page/head");
        using var client = App.CreateClient();
        var head = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/page/head"));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal("HIT", CacheStatus(head));
        Assert.Empty(await head.Content.ReadAsByteArrayAsync());
        Assert.Equal(1, App.Counters.Get("page"));
        Assert.True(await App.Cache.ExistsAsync(RcKey.For("GET,HEAD:/page/{name}", "head")));
    }

    [Fact]
    public async Task CacheResultSettings_ApplyWithoutAnAttribute()
    {
        await GetAsync("/configured/1");
        await GetAsync("/configured/1");
        Assert.Equal(1, App.Counters.Get("configured"));
        Assert.True(await App.Cache.ExistsAsync(RcKey.For("Configured", 1)));
    }

    [Fact]
    public async Task NamedCache_HoldsTheEndpointsEntries()
    {
        await GetAsync("/templates/3");
        await GetAsync("/templates/3");
        Assert.Equal(1, App.Counters.Get("templates"));
        var templates = Microsoft.Extensions.DependencyInjection.ServiceProviderKeyedServiceExtensions.GetRequiredKeyedService<IRcCache>(App.Services, "templates");
        Assert.True(await templates.ExistsAsync(RcKey.For("GET:/templates/{id:int}", 3)));
        Assert.False(await App.Cache.ExistsAsync(RcKey.For("GET:/templates/{id:int}", 3)));
    }

    [Fact]
    public async Task MvcAction_BehavesAsAMinimalApi()
    {
        var miss = await GetAsync("/mvc/items/1");
        var hit = await GetAsync("/mvc/items/1");
        Assert.Equal(miss.Body, hit.Body);
        Assert.Equal("HIT", CacheStatus(hit.Response));
        Assert.Equal(miss.Response.Content.Headers.ContentType?.ToString(), hit.Response.Content.Headers.ContentType?.ToString());
        Assert.Equal(1, App.Counters.Get("mvc"));
        Assert.True(await App.Cache.ExistsAsync(RcKey.For("MvcItems.Get", 1)));

        await GetAsync("/mvc/items/-1");
        var notFound = await GetAsync("/mvc/items/-1");
        Assert.Equal(HttpStatusCode.NotFound, notFound.Response.StatusCode);
        Assert.Equal(3, App.Counters.Get("mvc"));

        var page = await GetAsync("/mvc/page/2");
        Assert.Equal(page.Body, (await GetAsync("/mvc/page/2")).Body);
        Assert.Equal(1, App.Counters.Get("mvc-page"));
    }

    [Fact]
    public async Task MvcPost_IsNotCached()
    {
        using var client = App.CreateClient();
        await client.PostAsync("/mvc/items/1", null);
        await client.PostAsync("/mvc/items/1", null);
        Assert.Equal(2, App.Counters.Get("mvc-post"));
    }
}

public sealed class MemoryRcCachedTests : RcCachedTests
{
    protected override Task<Dictionary<string, string?>> SettingsAsync() => Task.FromResult(new Dictionary<string, string?>());
}

public sealed class RedisRcCachedTests : RcCachedTests
{
    protected override async Task<Dictionary<string, string?>> SettingsAsync() => new()
    {
        ["Rc:Store"] = "Redis",
        ["Rc:Redis"] = (await SharedRedis.Single).EndPoint,
    };
}

public sealed class ShardedRcCachedTests : RcCachedTests
{
    protected override async Task<Dictionary<string, string?>> SettingsAsync()
    {
        var shards = await SharedRedis.Shards;
        var settings = new Dictionary<string, string?> { ["Rc:Store"] = "Sharded" };
        for (var i = 0; i < shards.Length; i++)
        {
            settings[$"Rc:Shards:cache0{i + 1}:Host"] = "127.0.0.1";
            settings[$"Rc:Shards:cache0{i + 1}:Port"] = shards[i].Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return settings;
    }
}
