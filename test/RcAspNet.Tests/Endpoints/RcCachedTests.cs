using System.Net;
using System.Net.Http.Headers;
using RcAspNet.Caching;
using RcAspNet.Endpoints;
using RcAspNet.TestApp;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Endpoints;

/// <summary>[RcCached] on the test app, run against every store.</summary>
public abstract class RcCachedTests : IAsyncLifetime
{
    private readonly ManualTimeProvider _time = new();
    private TestAppFactory? _app;
    private string _namespace = "";
    private string _servers = "";

    protected TestAppFactory App => _app!;

    public async Task InitializeAsync()
    {
        var settings = await SettingsAsync();
        _servers = settings.TryGetValue("Rc:Redis", out var redis) ? redis!
            : string.Join(",", settings.Where(static s => s.Key.EndsWith(":Port", StringComparison.Ordinal)).Select(static s => $"127.0.0.1:{s.Value}"));
        settings["Rc:Namespace"] = SharedRedis.UniqueNamespace();

        // These tests are about behaviour, not faults: a slow moment of a loaded machine must not count as a failure.
        settings["Rc:OperationTimeout"] = "00:00:10";
        settings["Rc:Caches:templates:Namespace"] = SharedRedis.UniqueNamespace();
        _namespace = settings["Rc:Namespace"]!;
        _app = new TestAppFactory(settings, _time);
        _ = _app.Server;
    }

    /// <summary>Lets time pass: the app's fake clock, and the TTLs of this test's keys in Redis (<see cref="RedisTime"/>).</summary>
    private async Task PassAsync(TimeSpan time)
    {
        _time.Advance(time);
        if (_servers.Length > 0)
        {
            await RedisTime.PassAsync(_servers, _namespace, time);
        }
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

    /// <summary>Waits until a second request has joined the render of <paramref name="identity"/>'s miss in flight.</summary>
    private Task JoinedAsync(string identity)
    {
        var loader = ((RcCache)App.Cache).Loader;
        var key = ((RcCache)App.Cache).NamespacedKey(RcKey.For(identity));
        return Eventually.TrueAsync(() => Task.FromResult(loader.Waiters<CachedResponse>(key) == 2));
    }

    /// <summary>
    /// Sends <paramref name="first"/> and holds its handler at the gate; sends <paramref name="joiner"/> once the handler
    /// is in, and lets the handler go once the joiner waits on the render of <paramref name="identity"/>.
    /// </summary>
    private async Task<((HttpResponseMessage Response, string Body) First, (HttpResponseMessage Response, string Body) Joiner)> JoinedWhileHeldAsync(
        Func<Task<(HttpResponseMessage, string)>> first, Func<Task<(HttpResponseMessage, string)>> joiner, string identity)
    {
        App.Counters.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var rendering = first();
        await App.Counters.Entered.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var joining = joiner();
        await JoinedAsync(identity);
        App.Counters.Gate.SetResult();
        App.Counters.Gate = null;
        return (await rendering, await joining);
    }

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
        Assert.Equal(new RcRemovalResult(1, 0), await App.Cache.InvalidateAsync("ShowPost", 5));
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
        await PassAsync(TimeSpan.FromSeconds(50));
        Assert.Equal("HIT", CacheStatus((await GetAsync("/short")).Response));
        await PassAsync(TimeSpan.FromSeconds(20));
        Assert.Equal("MISS", CacheStatus((await GetAsync("/short")).Response));
        Assert.Equal(2, App.Counters.Get("short"));
    }

    [Theory]
    [InlineData("/post/1000", "post")]
    [InlineData("/typed/-1", "typed")]
    [InlineData("/problem", "problem")]
    [InlineData("/maybe/0", "maybe")]
    [InlineData("/cookie", "cookie")]
    [InlineData("/private-on-start", "private-on-start")]
    [InlineData("/vary-star", "vary-star")]
    public async Task ErrorsBypassValuesAndCookies_AreNotStored(string path, string counter)
    {
        var first = await GetAsync(path);
        var second = await GetAsync(path);
        Assert.Equal(2, App.Counters.Get(counter));
        Assert.Equal("MISS", CacheStatus(second.Response));
        Assert.Equal(first.Response.StatusCode, second.Response.StatusCode);
    }

    [Fact]
    public async Task AHandlersOwnRcCacheException_IsItsFailure_AndTheHandlerRunsOnce()
    {
        // Not taken for a failure of the endpoint's cache, which would answer by running the handler again.
        // Nor for a request that joined its render.
        var (failed, joined) = await JoinedWhileHeldAsync(() => GetAsync("/own-cache-failure"), () => GetAsync("/own-cache-failure"), "GET:/own-cache-failure");

        Assert.Equal(HttpStatusCode.InternalServerError, failed.Response.StatusCode);
        Assert.Equal(HttpStatusCode.InternalServerError, joined.Response.StatusCode);
        Assert.Equal(1, App.Counters.Get("own-cache-failure"));
    }

    [Fact]
    public async Task AnAnswerThatSetsACookieAsItsResponseStarts_IsNotStored()
    {
        var first = await GetAsync("/session-visit");
        var second = await GetAsync("/session-visit");
        Assert.Contains(first.Response.Headers.GetValues("Set-Cookie"), static c => c.StartsWith(".AspNetCore.Session=", StringComparison.Ordinal));
        Assert.Equal("visit #2", second.Body);
        Assert.Equal("MISS", CacheStatus(second.Response));
        Assert.Contains(second.Response.Headers.GetValues("Set-Cookie"), static c => c.StartsWith(".AspNetCore.Session=", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ACompressedAnswer_IsStoredAndServed()
    {
        // Response compression, before the cache, adds Content-Encoding as the response starts: that describes how the
        // bytes are sent, not the bytes the cache keeps.
        async Task<HttpResponseMessage> GzipAsync()
        {
            using var client = App.CreateClient();
            using var request = new HttpRequestMessage(HttpMethod.Get, "/news");
            request.Headers.AcceptEncoding.ParseAdd("gzip");
            return await client.SendAsync(request);
        }

        var miss = await GzipAsync();
        var hit = await GzipAsync();
        Assert.Equal("gzip", Assert.Single(miss.Content.Headers.ContentEncoding));
        Assert.Equal("gzip", Assert.Single(hit.Content.Headers.ContentEncoding));
        Assert.Equal("HIT", CacheStatus(hit));
        Assert.Equal(1, App.Counters.Get("news"));
        Assert.Equal("news #1", (await GetAsync("/news")).Body);
    }

    [Theory]
    [InlineData("array?v[0]=7")]
    [InlineData("array?V[0]=7&v[1]=8")]
    [InlineData("array?[0]=7")]
    [InlineData("array?v.index=a&v[a]=7")]
    public async Task MvcListValuesUnderNamesTheKeyDoesNotRead_AreNeitherServedNorStored(string path)
    {
        // MVC binds a list from indexed names, and from names without a prefix when the query holds none under its
        // name: such a request would otherwise be stored under the key of the list it did not bind (the empty one).
        var shadowed = await GetAsync($"/mvc/kind/{path}");
        var plain = await GetAsync("/mvc/kind/array");
        Assert.NotEqual(RcKey.For("MvcKinds.Array", System.Array.Empty<int>()), shadowed.Body);
        Assert.Equal(RcKey.For("MvcKinds.Array", System.Array.Empty<int>()), plain.Body);
        Assert.Equal("MISS", CacheStatus(plain.Response));
        Assert.Equal("MISS", CacheStatus((await GetAsync($"/mvc/kind/{path}")).Response));
    }

    [Fact]
    public async Task AnMvcArgumentLeftOut_IsKeyedAsWhatTheHandlerGets_NotAsItsTypesDefault()
    {
        // MVC passes a parameter left out at its declared default: 0 and a missing value are two pages.
        Assert.Equal(RcKey.For("MvcKinds.Defaulted", 0), (await GetAsync("/mvc/kind/defaulted?v=0")).Body);
        var left = await GetAsync("/mvc/kind/defaulted");
        Assert.Equal(RcKey.For("MvcKinds.Defaulted", 5), left.Body);
        Assert.Equal("MISS", CacheStatus(left.Response));
        Assert.Equal("HIT", CacheStatus((await GetAsync("/mvc/kind/defaulted")).Response));

        // A page's bound property keeps what the page set when left out, which the key cannot know: keyed as absent.
        Assert.Contains("Size 0, page 0", (await GetAsync("/sized?size=0&number=0")).Body, StringComparison.Ordinal);
        Assert.Contains("Size 20, page 1", (await GetAsync("/sized")).Body, StringComparison.Ordinal);
        Assert.Contains("Size 0, page 1", (await GetAsync("/sized?size=0")).Body, StringComparison.Ordinal);
        Assert.Contains("Size 20, page 0", (await GetAsync("/sized?number=0")).Body, StringComparison.Ordinal);
        Assert.Equal("HIT", CacheStatus((await GetAsync("/sized")).Response));
    }

    [Fact]
    public async Task AHandlerThatRendersOnAContextOfItsOwn_RendersInTheRequestsCulture()
    {
        // Eager refresh renders on a context of its own (it may outlive the request): with the culture request
        // localization chose for the request.
        var miss = await GetAsync("/greeting?culture=fr-FR");
        Assert.Equal("fr-FR fr-FR #1", miss.Body);
        Assert.Equal("en-US en-US #2", (await GetAsync("/greeting?culture=en-US")).Body);
    }

    [Fact]
    public async Task MvcArgumentsFromAConventionalRoutesDefaults_AreKeyed()
    {
        var fr = await GetAsync("/fr/conventional");
        var en = await GetAsync("/en/conventional");
        Assert.Equal("fr #1", fr.Body);
        Assert.Equal("en #2", en.Body);
        Assert.Equal("fr #1", (await GetAsync("/fr/conventional")).Body);
    }

    [Fact]
    public async Task AFormatFilterAddedToEveryActionByType_IsSeenToo()
    {
        Assert.Equal(HttpStatusCode.OK, (await GetAsync("/mvc/globally/1.json")).Response.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync("/mvc/globally/1.xml")).Response.StatusCode);
        Assert.Equal("MISS", CacheStatus((await GetAsync("/mvc/globally/1.json")).Response));
    }

    [Fact]
    public async Task FormatFilter_ARequestNamingAFormat_BypassesTheCache_AndTheActionsKeyStaysItsOwn()
    {
        // [FormatFilter] picks the representation by a format that is no argument of the action: a request that names
        // one is answered by the action (a JSON entry must not answer .xml, which has no formatter here: 404).
        var json = await GetAsync("/mvc/formatted/1.json");
        Assert.Equal(HttpStatusCode.OK, json.Response.StatusCode);
        Assert.Equal("MISS", CacheStatus((await GetAsync("/mvc/formatted/1.json")).Response));
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync("/mvc/formatted/1.xml")).Response.StatusCode);

        // Without a format the action's own key is used, and InvalidateAsync by its arguments removes it.
        await GetAsync("/mvc/formatted/1");
        Assert.Equal("HIT", CacheStatus((await GetAsync("/mvc/formatted/1")).Response));
        Assert.Equal(new RcRemovalResult(1, 0), await App.Cache.InvalidateAsync("MvcItems.Formatted", 1));
        Assert.Equal("MISS", CacheStatus((await GetAsync("/mvc/formatted/1")).Response));
    }

    [Fact]
    public async Task FormatFilter_WithARouteDefault_CachesTheDefaultsRepresentation_AndBypassesForAnother()
    {
        // Every request names a format (the route's default when its path names none): the default's is cached.
        var miss = await GetAsync("/mvc/defaulted/1");
        Assert.Equal("MISS", CacheStatus(miss.Response));
        Assert.Equal("HIT", CacheStatus((await GetAsync("/mvc/defaulted/1")).Response));
        var named = await GetAsync("/mvc/defaulted/1/json");
        Assert.Equal("HIT", CacheStatus(named.Response));
        Assert.Equal(miss.Body, named.Body);
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync("/mvc/defaulted/1/xml")).Response.StatusCode);
        Assert.Equal(1, App.Counters.Get("mvc.defaulted"));
        Assert.Equal(new RcRemovalResult(1, 0), await App.Cache.InvalidateAsync("MvcItems.Defaulted", 1));
    }

    [Fact]
    public async Task MvcHeaderList_IsKeyedAsMvcSplitsIt()
    {
        var miss = await GetAsync("/mvc/kind/header-list", tenant: "1, 2");
        Assert.Equal(RcKey.For("MvcKinds.HeaderList", new[] { 1, 2 }), miss.Body);
        Assert.True(await App.Cache.ExistsAsync(miss.Body));
        Assert.Equal("HIT", CacheStatus((await GetAsync("/mvc/kind/header-list", tenant: "1,2")).Response));
    }

    [Fact]
    public async Task MvcGetWithAFormBody_IsNeitherServedNorStored()
    {
        // MVC binds an argument without a named source from the form first, even on a GET.
        using var client = App.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/mvc/kind/int") { Content = new FormUrlEncodedContent([new("v", "5")]) };
        var withForm = await client.SendAsync(request);
        var plain = await GetAsync("/mvc/kind/int");
        Assert.Equal(RcKey.For("MvcKinds.Int", 5), await withForm.Content.ReadAsStringAsync());
        Assert.Equal("MISS", CacheStatus(withForm));
        Assert.Equal(RcKey.For("MvcKinds.Int", 0), plain.Body);
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
    public async Task PerUserScope_NeverShowsOneUsersResultToAnother()
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
    public async Task PerUserScope_NeverStoresThePageOfASignedInUserWithoutAnIdentifier()
    {
        // Its key would be the anonymous one: its page must reach neither anonymous visitors nor users like it.
        var nameless = await GetAsync("/me", user: TestAuthentication.Nameless);
        var anonymous = await GetAsync("/me");
        var namelessAgain = await GetAsync("/me", user: TestAuthentication.Nameless);
        Assert.Equal("anonymous #1", nameless.Body); // the handler finds no name either
        Assert.Equal("anonymous #2", anonymous.Body);
        Assert.Equal("anonymous #3", namelessAgain.Body);
        Assert.NotEqual("HIT", CacheStatus(namelessAgain.Response));
        Assert.Equal("anonymous #2", (await GetAsync("/me")).Body);
    }

    [Fact]
    public async Task ARangeRequest_IsAnsweredByTheHandler_AndItsPartNeverStored()
    {
        using var client = App.CreateClient();
        using var range = new HttpRequestMessage(HttpMethod.Get, "/file");
        range.Headers.Range = new RangeHeaderValue(0, 3);
        using var part = await client.SendAsync(range);
        Assert.Equal(HttpStatusCode.PartialContent, part.StatusCode);
        Assert.Equal("file", await part.Content.ReadAsStringAsync());

        var whole = await GetAsync("/file");
        var again = await GetAsync("/file");
        Assert.Equal((HttpStatusCode.OK, "file #2"), (whole.Response.StatusCode, whole.Body));
        Assert.Equal((HttpStatusCode.OK, "file #2", "HIT"), (again.Response.StatusCode, again.Body, CacheStatus(again.Response)));
    }

    [Fact]
    public async Task SharedScope_IsSharedByAuthenticatedUsers()
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

    [Theory]
    [InlineData("/left")]
    [InlineData("/left/throwing")]
    public async Task AMissWhoseVisitorLeaves_LetsTheRequestsThatJoinedItRenderForThemselves(string path)
    {
        // Whatever the handler throws as its visitor leaves: a client may report the cancellation as an error of its own.
        using var leaving = new CancellationTokenSource();
        using var client = App.CreateClient();
        var first = client.GetAsync(path, leaving.Token);
        await Eventually.TrueAsync(() => Task.FromResult(App.Counters.Get(path[1..]) == 1));
        var joined = GetAsync(path);
        var loader = ((RcCache)App.Cache).Loader;
        var key = ((RcCache)App.Cache).NamespacedKey(RcKey.For($"GET:{path}"));
        await Eventually.TrueAsync(() => Task.FromResult(loader.Waiters<CachedResponse>(key) == 2));
        leaving.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);
        var answer = await joined;
        Assert.Equal((HttpStatusCode.OK, "left #2"), (answer.Response.StatusCode, answer.Body));
    }

    [Fact]
    public async Task AHandlerThatGivesUpOnItsOwn_RunsOncePerRequest()
    {
        // Its own cancellation is not a visitor who left: the request that rendered does not render again.
        try
        {
            await GetAsync("/gives-up");
        }
        catch (OperationCanceledException)
        {
            // The test server hands the handler's exception to the client.
        }

        Assert.Equal(1, App.Counters.Get("gives-up"));
    }

    [Fact]
    public async Task ConcurrentMisses_OfAnAnswerThatSetsACookie_EachRenderTheirOwn()
    {
        var responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => GetAsync("/slow-cookie")));
        Assert.Equal(8, App.Counters.Get("slow-cookie"));
        Assert.Equal(8, responses.Select(static r => r.Response.Headers.GetValues("Set-Cookie").Single()).Distinct().Count());
        Assert.All(responses, static r => Assert.Equal("MISS", CacheStatus(r.Response)));
        Assert.Equal(8, responses.Select(static r => r.Body).Distinct().Count());
    }

    [Fact]
    public async Task ConcurrentMisses_OfAPrivateAnswer_EachRenderTheirOwn()
    {
        var responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => GetAsync("/slow-private")));
        Assert.Equal(8, App.Counters.Get("slow-private"));
        Assert.All(responses, static r => Assert.Equal("MISS", CacheStatus(r.Response)));
        Assert.All(responses, static r => Assert.Equal("private", r.Response.Headers.CacheControl?.ToString()));
    }

    [Fact]
    public async Task ConcurrentMisses_OfAnError_AreLabelledMissNeverHit()
    {
        var responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => GetAsync("/slow-error")));
        Assert.All(responses, static r => Assert.Equal(HttpStatusCode.ServiceUnavailable, r.Response.StatusCode));
        Assert.All(responses, static r => Assert.Equal("MISS", CacheStatus(r.Response)));
        Assert.InRange(App.Counters.Get("slow-error"), 1, 8);
    }

    [Fact]
    public async Task AMissThatJoinedAnotherClientsRefusal_RendersItsOwn()
    {
        // One client's 429 (or 401, 403) is that client's: a request that joined its render renders for itself.
        var (refused, answer) = await JoinedWhileHeldAsync(() => GetAsync("/limited", tenant: "over"), () => GetAsync("/limited"), "GET:/limited");

        Assert.Equal(HttpStatusCode.TooManyRequests, refused.Response.StatusCode);
        Assert.Equal(HttpStatusCode.OK, answer.Response.StatusCode);
        Assert.Equal("limited #2", answer.Body);
        Assert.Equal("MISS", CacheStatus(answer.Response));
    }

    [Fact]
    public async Task AFailSafeRenderThatFailsAfterItsBodyWasSent_IsAborted_NeverFinishedWithTheFallback()
    {
        Assert.Equal("resilient-stream", (await GetAsync("/resilient-stream/1")).Body);
        await PassAsync(TimeSpan.FromSeconds(11));
        App.Counters.SourceDown = true;
        try
        {
            // Its body passed what may be stored, so it went to the client as it rendered: the stale page cannot follow it.
            using var client = App.CreateClient();
            using var response = await client.GetAsync("/resilient-stream/1", HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal("MISS", CacheStatus(response));
            var received = new MemoryStream();
            var failure = await Record.ExceptionAsync(async () => await (await response.Content.ReadAsStreamAsync()).CopyToAsync(received));
            Assert.True(failure is HttpRequestException or IOException or InvalidOperationException, $"The body ended with {failure?.GetType().Name ?? "no failure"}.");
            Assert.False(received.ToArray().AsSpan().EndsWith("resilient-stream"u8));
        }
        finally
        {
            App.Counters.SourceDown = false;
        }
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
    public async Task AHeadMiss_OfAFileResult_KeepsTheLengthItsHandlerDeclares()
    {
        // For HEAD, a file result sets Content-Length and writes nothing: the miss must not answer a length of 0.
        using var client = App.CreateClient();
        using var head = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/file/head"));
        Assert.Equal((HttpStatusCode.OK, "MISS", 1000L), (head.StatusCode, CacheStatus(head), head.Content.Headers.ContentLength));

        var get = await GetAsync("/file/head");
        Assert.Equal(1000, get.Body.Length);
        using var hit = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/file/head"));
        Assert.Equal((HttpStatusCode.OK, "HIT", 1000L), (hit.StatusCode, CacheStatus(hit), hit.Content.Headers.ContentLength));
        Assert.Equal(2, App.Counters.Get("file.head"));
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
    public async Task InvalidateTag_RemovesEveryEntryThatCarriesIt()
    {
        await GetAsync("/tagged/1");
        await GetAsync("/tagged/2");
        Assert.Equal("HIT", CacheStatus((await GetAsync("/tagged/1")).Response));

        Assert.Equal(new RcRemovalResult(1, 0), await App.Cache.InvalidateTagAsync("item:1"));
        Assert.Equal("MISS", CacheStatus((await GetAsync("/tagged/1")).Response));
        Assert.Equal("HIT", CacheStatus((await GetAsync("/tagged/2")).Response));

        Assert.Equal(new RcRemovalResult(2, 0), await App.Cache.InvalidateTagAsync("items"));
        Assert.Equal("MISS", CacheStatus((await GetAsync("/tagged/1")).Response));
        Assert.Equal("MISS", CacheStatus((await GetAsync("/tagged/2")).Response));
        Assert.Equal(5, App.Counters.Get("tagged"));
    }

    [Fact]
    public async Task TagInvalidatedWhileTheEntryIsBeingWritten_LeavesNothingStaleReadable()
    {
        App.Counters.Data = 1;
        App.Counters.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = GetAsync("/gated/1");
        await App.Counters.Entered.Task.WaitAsync(TimeSpan.FromSeconds(30));

        // The handler has read version 1 of its data. The data changes, and its tag is invalidated, before it returns.
        App.Counters.Data = 2;
        await App.Cache.InvalidateTagAsync("gated");
        App.Counters.Gate.SetResult();
        App.Counters.Gate = null;
        Assert.Equal("gated 1 v1", (await first).Body);

        var next = await GetAsync("/gated/1");
        Assert.Equal("MISS", CacheStatus(next.Response));
        Assert.Equal("gated 1 v2", next.Body);
        Assert.Equal("HIT", CacheStatus((await GetAsync("/gated/1")).Response));
    }

    [Theory]
    [InlineData("string", "a%20b")]
    [InlineData("string", "%E4%B8%AD")]
    [InlineData("int", "42")]
    [InlineData("int", "-7")]
    [InlineData("int", "%2B42")]
    [InlineData("long", "9007199254740993")]
    [InlineData("short", "12")]
    [InlineData("byte", "255")]
    [InlineData("uint", "4000000000")]
    [InlineData("bool", "TRUE")]
    [InlineData("bool", "false")]
    [InlineData("char", "x")]
    [InlineData("double", "1%2C000.5")]
    [InlineData("double", "1e3")]
    [InlineData("float", "0.1")]
    [InlineData("decimal", "1.5")]
    [InlineData("decimal", "-0.25")]
    [InlineData("half", "2.5")]
    [InlineData("int128", "170141183460469231731687303715884105727")]
    [InlineData("guid", "9F0C5B43-3D1F-4E0E-9B1E-6F1F6D0F2A11")]
    [InlineData("guid", "{9f0c5b43-3d1f-4e0e-9b1e-6f1f6d0f2a11}")]
    [InlineData("datetime", "2026-01-02T03:04:05%2B02:00")]
    [InlineData("datetime", "2026-01-02")]
    [InlineData("datetimeoffset", "2026-01-02T03:04:05-05:00")]
    [InlineData("datetimeoffset", "2026-01-02T03:04:05")]
    [InlineData("dateonly", "2026-01-02")]
    [InlineData("timeonly", "13:45")]
    [InlineData("timespan", "1.02:03:04.5")]
    [InlineData("enum", "Write")]
    [InlineData("enum", "3")]
    [InlineData("enum", "Read,%20Write")]
    [InlineData("nullable", "5")]
    [InlineData("nullable", null)]
    [InlineData("array", "1&v=2&v=3")]
    [InlineData("array", null)]
    [InlineData("nullarray", null)]
    [InlineData("nullarray", "4")]
    [InlineData("strings", "a&v=b%20c")]
    [InlineData("default", null)]
    [InlineData("default", "8")]
    public async Task KeyReadFromTheRequest_IsTheKeyOfTheBoundArgument(string kind, string? query)
    {
        // The handler answers with RcKey.For(identity, the value it was bound to); the entry must be under exactly that key.
        var path = query is null ? $"/kind/{kind}" : $"/kind/{kind}?v={query}";
        var miss = await GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, miss.Response.StatusCode);
        Assert.True(await App.Cache.ExistsAsync(miss.Body), $"{path} was stored under another key than {miss.Body}");
        var hit = await GetAsync(path);
        Assert.Equal("HIT", CacheStatus(hit.Response));
        Assert.Equal(miss.Body, hit.Body);
    }

    [Theory]
    [InlineData("/price")]
    [InlineData("/mvc/kind/price")]
    public async Task ADecimalWithTrailingZeros_IsAnsweredWithoutTheCache_NeverWithAnotherScalesPage(string path)
    {
        // The handler sees 1.50 and 1.5 apart; their key is one (an invalidation of either removes it), so only 1.5 uses it.
        var zeros = await GetAsync($"{path}?v=1.50");
        var plain = await GetAsync($"{path}?v=1.5");
        var zerosAgain = await GetAsync($"{path}?v=1.50");
        var plainAgain = await GetAsync($"{path}?v=1.5");

        Assert.Equal(("MISS", "1.50"), (CacheStatus(zeros.Response), zeros.Body));
        Assert.Equal(("MISS", "1.5"), (CacheStatus(plain.Response), plain.Body));
        Assert.Equal(("MISS", "1.50"), (CacheStatus(zerosAgain.Response), zerosAgain.Body));
        Assert.Equal(("HIT", "1.5"), (CacheStatus(plainAgain.Response), plainAgain.Body));
    }

    [Fact]
    public async Task ADeclaredDecimalDefaultWithTrailingZeros_IsAnsweredWithoutTheCache()
    {
        var plain = await GetAsync("/price/defaulted?v=1.5");
        var plainAgain = await GetAsync("/price/defaulted?v=1.5");
        var defaulted = await GetAsync("/price/defaulted");

        Assert.Equal(("HIT", "1.5"), (CacheStatus(plainAgain.Response), plainAgain.Body));
        Assert.Equal(("MISS", "1.50"), (CacheStatus(defaulted.Response), defaulted.Body));
        Assert.Equal("1.5", plain.Body);
    }

    [Fact]
    public async Task KeyReadFromTheRequest_IsTheKeyOfTheBoundArgument_ForRouteAndHeaderValues()
    {
        foreach (var (path, header) in new[] { ("/kind/route/9f0c5b43-3d1f-4e0e-9b1e-6f1f6d0f2a11", (string?)null), ("/kind/header", "a value") })
        {
            using var client = App.CreateClient();
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            if (header is not null)
            {
                request.Headers.Add("X-Value", header);
            }

            var key = await (await client.SendAsync(request)).Content.ReadAsStringAsync();
            Assert.True(await App.Cache.ExistsAsync(key), $"{path} was stored under another key than {key}");
        }
    }

    [Theory]
    [InlineData("int?v=42")]
    [InlineData("int?v=%2042%20")]
    [InlineData("int?v=0x10")]
    [InlineData("int")]
    [InlineData("decimal?v=1.5")]
    [InlineData("datetime?v=2026-01-02T03:04:05Z")]
    [InlineData("guid/9f0c5b43-3d1f-4e0e-9b1e-6f1f6d0f2a11")]
    [InlineData("enum?v=write")]
    [InlineData("enum?v=Read,Write")]
    [InlineData("bool?v=True")]
    [InlineData("array?v=1&v=2")]
    [InlineData("array")]
    [InlineData("header")]
    public async Task KeyReadFromTheRequest_IsTheKeyOfTheArgumentMvcBound(string path)
    {
        var miss = await GetAsync($"/mvc/kind/{path}");
        Assert.Equal(HttpStatusCode.OK, miss.Response.StatusCode);
        Assert.True(await App.Cache.ExistsAsync(miss.Body), $"/mvc/kind/{path} was stored under another key than {miss.Body}");
        Assert.Equal("HIT", CacheStatus((await GetAsync($"/mvc/kind/{path}")).Response));
    }

    [Fact]
    public async Task RazorPage_WithANamedGetHandler_IsKeyedByTheHandlerAndItsArguments()
    {
        var page = await GetAsync("/report/7");
        Assert.Equal(HttpStatusCode.OK, page.Response.StatusCode);
        var csv = await GetAsync("/report/7?handler=Csv&separator=;");
        var tabs = await GetAsync("/report/7?handler=Csv&separator=tab");
        var pageAgain = await GetAsync("/report/7");
        var csvAgain = await GetAsync("/report/7?handler=csv&separator=;");
        Assert.Contains("Report 7 as html #1", page.Body, StringComparison.Ordinal);
        Assert.Contains("Report 7 as csv(;) #2", csv.Body, StringComparison.Ordinal);
        Assert.Contains("Report 7 as csv(tab) #3", tabs.Body, StringComparison.Ordinal);
        Assert.Equal((page.Body, "HIT"), (pageAgain.Body, CacheStatus(pageAgain.Response)));
        Assert.Equal((csv.Body, "HIT"), (csvAgain.Body, CacheStatus(csvAgain.Response)));
    }

    [Fact]
    public async Task RazorPage_IsCachedByItsHandlerArgumentAndGetBoundProperty()
    {
        var miss = await GetAsync("/greeting/bob?times=2");
        var hit = await GetAsync("/greeting/bob?times=2");
        var other = await GetAsync("/greeting/bob?times=3");
        Assert.Equal("MISS", CacheStatus(miss.Response));
        Assert.Equal("HIT", CacheStatus(hit.Response));
        Assert.Equal(miss.Body, hit.Body);
        Assert.Contains("Greeting bob x2 #1", miss.Body, StringComparison.Ordinal);
        Assert.Contains("Greeting bob x3 #2", other.Body, StringComparison.Ordinal);
        Assert.StartsWith("text/html", hit.Response.Content.Headers.ContentType?.ToString(), StringComparison.Ordinal);
        Assert.True(await App.Cache.ExistsAsync(RcKey.For("Page:/Greeting", "bob", 2)));

        Assert.Equal(new RcRemovalResult(2, 0), await App.Cache.InvalidateTagAsync("greetings"));
        Assert.Equal("MISS", CacheStatus((await GetAsync("/greeting/bob?times=2")).Response));
    }

    [Fact]
    public async Task FormValues_AreKeyArguments()
    {
        async Task<string> SendAsync(string name)
        {
            using var client = App.CreateClient();
            using var request = new HttpRequestMessage(HttpMethod.Get, "/form") { Content = new FormUrlEncodedContent([new("name", name)]) };
            return await (await client.SendAsync(request)).Content.ReadAsStringAsync();
        }

        Assert.Equal("form ann #1", await SendAsync("ann"));
        Assert.Equal("form bob #2", await SendAsync("bob"));
        Assert.Equal("form ann #1", await SendAsync("ann"));
        Assert.True(await App.Cache.ExistsAsync(RcKey.For("GET:/form", "ann")));
    }

    [Fact]
    public async Task CacheStatusHeader_SaysHitOrMiss()
    {
        Assert.Equal("MISS", CacheStatus((await GetAsync("/status")).Response));
        Assert.Equal("HIT", CacheStatus((await GetAsync("/status")).Response));
    }

    [Fact]
    public async Task MvcPost_IsNotCached()
    {
        using var client = App.CreateClient();
        await client.PostAsync("/mvc/items/1", null);
        await client.PostAsync("/mvc/items/1", null);
        Assert.Equal(2, App.Counters.Get("mvc-post"));
    }

    [Fact]
    public async Task FailSafe_WhileTheHandlerThrows_TheLastPageIsServedMarkedStale_AndTheSourceIsNotHammered()
    {
        var first = await GetAsync("/resilient/1");
        Assert.Equal(("MISS", "resilient 1 v1"), (CacheStatus(first.Response), first.Body));
        await PassAsync(TimeSpan.FromSeconds(11));

        App.Counters.SourceDown = true;
        var stale = await GetAsync("/resilient/1");
        Assert.Equal((HttpStatusCode.OK, "STALE", "resilient 1 v1"), (stale.Response.StatusCode, CacheStatus(stale.Response), stale.Body));
        Assert.Equal(2, App.Counters.Get("resilient.attempts"));

        // Throttled: the fallback answers without the handler, until the throttle ends.
        var again = await GetAsync("/resilient/1");
        Assert.Equal(("STALE", "resilient 1 v1"), (CacheStatus(again.Response), again.Body));
        Assert.Equal(2, App.Counters.Get("resilient.attempts"));

        App.Counters.SourceDown = false;
        await PassAsync(TimeSpan.FromSeconds(31));
        var back = await GetAsync("/resilient/1");
        Assert.Equal(("MISS", "resilient 1 v2"), (CacheStatus(back.Response), back.Body));
        var hit = await GetAsync("/resilient/1");
        Assert.Equal(("HIT", "resilient 1 v2"), (CacheStatus(hit.Response), hit.Body));
    }

    [Fact]
    public async Task FailSafe_AServerErrorIsAFailure_TheLastPageAnswers_AndWithoutOneTheErrorDoes()
    {
        Assert.Equal("resilient-503 1 v1", (await GetAsync("/resilient-503/1")).Body);
        await PassAsync(TimeSpan.FromSeconds(11));
        App.Counters.SourceDown = true;
        var stale = await GetAsync("/resilient-503/1");
        Assert.Equal((HttpStatusCode.OK, "STALE", "resilient-503 1 v1"), (stale.Response.StatusCode, CacheStatus(stale.Response), stale.Body));

        var none = await GetAsync("/resilient-503/2");
        Assert.Equal((HttpStatusCode.ServiceUnavailable, "MISS"), (none.Response.StatusCode, CacheStatus(none.Response)));

        // A removed page is never a fallback.
        await App.Cache.InvalidateAsync("GET:/resilient-503/{id:int}", 1);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await GetAsync("/resilient-503/1")).Response.StatusCode);
    }

    [Fact]
    public async Task SoftTimeout_TheLastPageAnswers_AndTheHandlerFinishesOnItsOwnContext()
    {
        var first = await GetAsync("/soft/1");
        Assert.Equal(("MISS", "soft 1 v1", "soft"), (CacheStatus(first.Response), first.Body, first.Response.Headers.GetValues("X-Rendered-By").Single()));
        await PassAsync(TimeSpan.FromSeconds(11));

        App.Counters.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var stale = await GetAsync("/soft/1");
        Assert.Equal(("STALE", "soft 1 v1"), (CacheStatus(stale.Response), stale.Body));
        await App.Counters.Entered.Task;

        // The handler, held past its request, completes on a context of its own; its page is stored when its load ends.
        // (A read whose GET went out before that page was stored, and that found no load to join by the time its answer
        // came, rendered the page again: on a loaded machine the reads below once found version 3. Such a read now reads
        // the page back first: LoadingTests.ALoadThatStoredItsValueBetweenAReadAndItsAnswer_IsReadBack_NotRunAgain.)
        var cache = (RcAspNet.Caching.RcCache)App.Cache;
        var key = cache.NamespacedKey(RcKey.For("GET:/soft/{id:int}", 1));
        Assert.True(cache.Loader.IsLoading(key));
        App.Counters.Gate.SetResult();
        await Eventually.TrueAsync(() => Task.FromResult(!cache.Loader.IsLoading(key)));
        await Eventually.TrueAsync(async () => (await GetAsync("/soft/1")).Body == "soft 1 v2");
        Assert.Equal("HIT", CacheStatus((await GetAsync("/soft/1")).Response));

        // Both renders, the one in its request and the detached one, read their own context and had their disposables disposed.
        Assert.Equal(2, App.Counters.Get("soft-own-context"));
        await Eventually.TrueAsync(() => Task.FromResult(App.Counters.Get("soft-disposed") == 2));
    }

    [Theory]
    [InlineData("/eager/1", "eager 1 v1", "eager 1 v2")]
    [InlineData("/mvc/fresh/1", "{\"id\":1,\"name\":\"fresh\",\"version\":1}", "{\"id\":1,\"name\":\"fresh\",\"version\":2}")]
    public async Task EagerRefresh_AHitPastTheThresholdIsAnsweredAtOnce_AndRenderedAgainInTheBackground(string path, string before, string after)
    {
        // Past half of a 100 s lifetime (long, so that the TTL that real time also shortens in Redis outlasts a loaded machine's pauses).
        Assert.Equal(before, (await GetAsync(path)).Body);
        await PassAsync(TimeSpan.FromSeconds(60));

        // The handler is held shut: the hit is answered at once all the same.
        App.Counters.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var hit = await GetAsync(path);
        Assert.Equal(("HIT", before), (CacheStatus(hit.Response), hit.Body));
        await App.Counters.Entered.Task;
        Assert.Equal(before, (await GetAsync(path)).Body);

        App.Counters.Gate.SetResult();
        await Eventually.TrueAsync(async () => (await GetAsync(path)).Body == after);
    }

    [Fact]
    public async Task EagerRefresh_ByARevalidatingVisitor_RendersTheEntryWhole_NotThe304TheVisitorGets()
    {
        // The visitor's If-None-Match matches: the hit answers 304, and its refresh must not carry the condition to a
        // handler that honours it (a 304 is not stored, and the entry would never be refreshed).
        Assert.Equal("eager-file 1 v1", (await GetAsync("/eager/file/1")).Body);
        await PassAsync(TimeSpan.FromSeconds(60));
        using var client = App.CreateClient();
        using var revalidate = new HttpRequestMessage(HttpMethod.Get, "/eager/file/1");
        revalidate.Headers.TryAddWithoutValidation("If-None-Match", "\"same\"");
        using var notModified = await client.SendAsync(revalidate);
        Assert.Equal((HttpStatusCode.NotModified, "HIT"), (notModified.StatusCode, CacheStatus(notModified)));

        // Once that refresh ends, the entry is its render (a GET before it ended would start a refresh of its own).
        var rc = (RcCache)App.Cache;
        var key = rc.Keyspace.Key(RcKey.For("GET:/eager/file/{id:int}", 1));
        await Eventually.TrueAsync(() => Task.FromResult(!rc.Loader.IsLoading(key)));
        Assert.Equal("eager-file 1 v2", (await GetAsync("/eager/file/1")).Body);
    }

    [Fact]
    public async Task EagerRefresh_AHeadHitPastTheThreshold_StartsNoRefresh_AGetHitDoes()
    {
        // A HEAD request's render is never stored: a refresh it started would render for nothing, and hold the key's
        // refresh from the GETs meanwhile.
        Assert.Equal("eager-head 1 v1", (await GetAsync("/eager/head/1")).Body);
        await PassAsync(TimeSpan.FromSeconds(60));
        App.Counters.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var rc = (RcCache)App.Cache;
        var key = rc.Keyspace.Key(RcKey.For("GET,HEAD:/eager/head/{id:int}", 1));

        using var client = App.CreateClient();
        using var head = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/eager/head/1"));
        Assert.Equal("HIT", CacheStatus(head));
        Assert.False(rc.Loader.IsLoading(key), "A HEAD hit started a refresh.");

        // A refresh is registered before its hit is answered: a GET's starts it.
        var hit = await GetAsync("/eager/head/1");
        Assert.Equal(("HIT", "eager-head 1 v1"), (CacheStatus(hit.Response), hit.Body));
        Assert.True(rc.Loader.IsLoading(key));
        await App.Counters.Entered.Task.WaitAsync(TimeSpan.FromSeconds(30));
        App.Counters.Gate.SetResult();
        await Eventually.TrueAsync(async () => (await GetAsync("/eager/head/1")).Body == "eager-head 1 v2");
    }

    [Theory]
    [InlineData("/writer/1")]
    [InlineData("/writer/detached/1")]
    public async Task BytesTheHandlerLeftInTheBodysWriter_AreStoredWhole(string path)
    {
        // The result never flushes the writer: a server completes it, and so does the render.
        var miss = await GetAsync(path);
        var hit = await GetAsync(path);
        Assert.Equal(("writer 1 #1", "MISS"), (miss.Body, miss.Response.Headers.GetValues("X-Cache").Single()));
        Assert.Equal(("writer 1 #1", "HIT"), (hit.Body, hit.Response.Headers.GetValues("X-Cache").Single()));
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

/// <summary>The same behaviour with the near cache on: it must change no result.</summary>
public sealed class RedisNearRcCachedTests : RcCachedTests
{
    protected override async Task<Dictionary<string, string?>> SettingsAsync() => new()
    {
        ["Rc:Store"] = "Redis",
        ["Rc:Redis"] = (await SharedRedis.Single).EndPoint,
        ["Rc:NearCache:Enabled"] = "true",
    };
}

public sealed class ClusterRcCachedTests : RcCachedTests
{
    protected override async Task<Dictionary<string, string?>> SettingsAsync() => new()
    {
        ["Rc:Store"] = "Redis",
        ["Rc:Redis"] = (await SharedRedis.Cluster).Configuration,
    };
}

public sealed class KetamaRcCachedTests : RcCachedTests
{
    protected override async Task<Dictionary<string, string?>> SettingsAsync()
    {
        var shards = await SharedRedis.Shards;
        var settings = new Dictionary<string, string?> { ["Rc:Router"] = "Ketama" };
        TestServices.ShardSettings(settings, shards);

        return settings;
    }
}

public sealed class ShardedRcCachedTests : RcCachedTests
{
    protected override async Task<Dictionary<string, string?>> SettingsAsync()
    {
        var shards = await SharedRedis.Shards;
        var settings = new Dictionary<string, string?>();
        TestServices.ShardSettings(settings, shards);

        return settings;
    }
}
