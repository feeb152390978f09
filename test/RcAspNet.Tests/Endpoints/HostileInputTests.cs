using System.Net;
using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Caching;
using RcAspNet.Stores;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Endpoints;

/// <summary>
/// What a hostile client can do to [RcCached] endpoints: oversized or malformed values and floods of distinct
/// arguments are answered as the app answers them without a cache, never store an entry under an unbounded key, and
/// cannot push out the entries other endpoints are reading or grow the embedded store past its limit.
/// </summary>
public sealed class HostileInputTests : IAsyncLifetime
{
    private const long SizeLimit = 256 * 1024;
    private const int MaximumValueSize = 64 * 1024;
    private TestAppFactory _app = null!;

    public Task InitializeAsync()
    {
        _app = new TestAppFactory(new Dictionary<string, string?>
        {
            ["Rc:Namespace"] = SharedRedis.UniqueNamespace(),
            ["Rc:MemorySizeLimit"] = SizeLimit.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Rc:MaximumKeyLength"] = "200",
            ["Rc:MaximumValueSize"] = MaximumValueSize.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        _ = _app.Server;
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _app.DisposeAsync();

    private MemoryStore Store => (MemoryStore)_app.Services.GetRequiredService<CacheRegistry>().Stores[0];

    private static string? CacheStatus(HttpResponseMessage response) =>
        response.Headers.TryGetValues("X-Cache", out var values) ? values.Single() : null;

    [Fact]
    public async Task AGetWithABodyItsHandlerReads_IsAnsweredWithoutTheCache()
    {
        // The handler binds its query from the body ([FromBody]), which no key holds: had a request with a body been
        // served from the cache, or stored in it, one caller's results would be another's.
        using var client = _app.CreateClient();
        static HttpRequestMessage Search(string? text) => new(HttpMethod.Get, "/body/search")
        {
            Content = text is null ? null : new StringContent($"{{\"text\":\"{text}\"}}", System.Text.Encoding.UTF8, "application/json"),
        };

        using var bare = await client.SendAsync(Search(null));
        var stored = await bare.Content.ReadAsStringAsync();
        Assert.True(CacheStatus(bare) == "MISS", $"{(int)bare.StatusCode} {stored}");
        using var bareAgain = await client.SendAsync(Search(null));
        Assert.Equal(("HIT", stored), (CacheStatus(bareAgain), await bareAgain.Content.ReadAsStringAsync()));

        foreach (var text in new[] { "alice", "bob", "alice" })
        {
            using var response = await client.SendAsync(Search(text));
            var body = await response.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.StartsWith($"search {text} #", body, StringComparison.Ordinal);
            Assert.Equal("MISS", CacheStatus(response));
        }

        using var bareLast = await client.SendAsync(Search(null));
        Assert.Equal(("HIT", stored), (CacheStatus(bareLast), await bareLast.Content.ReadAsStringAsync()));
    }

    [Fact]
    public async Task ABodyPastWhatMayBeStored_IsSentAsItRenders_NeverHeldWhole_AndNotStored()
    {
        using var client = _app.CreateClient();
        var counters = _app.Services.GetRequiredService<RcAspNet.TestApp.Counters>();
        var before = Store.Count;
        counters.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // The handler holds at 100 KiB of 200: the client reads what passed the 64 KiB limit while it does.
        using var first = await client.GetAsync("/stream/200", HttpCompletionOption.ResponseHeadersRead).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal("MISS", CacheStatus(first));
        var body = await first.Content.ReadAsStreamAsync();
        var early = new byte[MaximumValueSize + 1];
        await body.ReadExactlyAsync(early).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        await counters.Entered.Task.WaitAsync(TimeSpan.FromSeconds(30));
        counters.Gate.SetResult();
        counters.Gate = null;

        var rest = new MemoryStream();
        await body.CopyToAsync(rest);
        Assert.Equal(200 * 1024, early.Length + rest.Length);
        Assert.All(early, static b => Assert.Equal((byte)'s', b));
        using var again = await client.GetAsync("/stream/200");
        Assert.Equal(200 * 1024, (await again.Content.ReadAsByteArrayAsync()).Length);
        Assert.Equal("MISS", CacheStatus(again));
        Assert.Equal(2, counters.Get("stream"));
        Assert.Equal(before, Store.Count);
    }

    [Fact]
    public async Task ARequestThatJoinedARenderThatSpilled_RendersItsOwn_WithoutWaitingForTheOthersDownload()
    {
        using var client = _app.CreateClient();
        var counters = _app.Services.GetRequiredService<RcAspNet.TestApp.Counters>();
        var gate = counters.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // The first render holds at 1 KiB, before its body spills; a second request joins it.
        var first = client.GetAsync("/stream/400?holdAt=1", HttpCompletionOption.ResponseHeadersRead);
        await counters.Entered.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var joiner = client.GetAsync("/stream/400?holdAt=1");
        var cache = (RcCache)_app.Services.GetRequiredService<IRcCache>();
        var key = cache.NamespacedKey(RcKey.For("GET:/stream/{kb:int}", 400, 1));
        await Eventually.TrueAsync(() => Task.FromResult(cache.Loader.Waiters<RcAspNet.Endpoints.CachedResponse>(key) == 2));

        // Released, the first spills and sends to a client that reads none of it: the joiner renders its own meanwhile.
        counters.Gate = null;
        gate.SetResult();
        using var joined = await joiner.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(400 * 1024, (await joined.Content.ReadAsByteArrayAsync()).Length);
        Assert.Equal("MISS", CacheStatus(joined));
        Assert.Equal(1, counters.Get("stream.done")); // the joiner's own render; the first's waits for its client to read

        using var firstResponse = await first.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(400 * 1024, (await firstResponse.Content.ReadAsByteArrayAsync()).Length);
        Assert.Equal(2, counters.Get("stream"));
        await Eventually.TrueAsync(() => Task.FromResult(counters.Get("stream.done") == 2));
    }

    [Fact]
    public async Task ASynchronousWrite_IsTakenWhileTheBodyIsKept_AndRefusedPastIt_AsTheServerRefusesIt()
    {
        using var client = _app.CreateClient();
        var counters = _app.Services.GetRequiredService<RcAspNet.TestApp.Counters>();
        using var uncached = await client.GetAsync("/sync/uncached/1");
        Assert.Equal(HttpStatusCode.InternalServerError, uncached.StatusCode);
        Assert.Contains("Synchronous operations are disallowed", await uncached.Content.ReadAsStringAsync());

        // Kept in memory (in its request, or away from it), as a buffer keeps it: stored.
        foreach (var path in new[] { "/sync/1", "/sync/detached/1" })
        {
            using var first = await client.GetAsync(path);
            Assert.Equal(1024, (await first.Content.ReadAsByteArrayAsync()).Length);
            using var again = await client.GetAsync(path);
            Assert.Equal("HIT", CacheStatus(again));
        }

        // Past what may be kept, it reaches the server, which refuses it as without the cache; nothing is stored.
        var before = counters.Get("sync");
        for (var i = 0; i < 2; i++)
        {
            using var response = await client.GetAsync("/sync/200");
            Assert.Equal(uncached.StatusCode, response.StatusCode);
            Assert.Contains("Synchronous operations are disallowed", await response.Content.ReadAsStringAsync());
        }

        Assert.Equal(before + 2, counters.Get("sync"));
    }

    [Theory]
    [InlineData("/sync/1?allow=true", 1, "HIT")]
    [InlineData("/sync/200?allow=true", 200, "MISS")]
    [InlineData("/sync/detached/1?allow=true", 1, "HIT")]
    public async Task ASynchronousWrite_WhereTheHandlerAllowsIt_IsKeptOrSentAsItRenders(string path, int kb, string second)
    {
        using var client = _app.CreateClient();
        var counters = _app.Services.GetRequiredService<RcAspNet.TestApp.Counters>();
        var before = counters.Get("sync");
        using var first = await client.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(kb * 1024, (await first.Content.ReadAsByteArrayAsync()).Length);
        Assert.Equal("MISS", CacheStatus(first));

        using var again = await client.GetAsync(path);
        Assert.Equal(kb * 1024, (await again.Content.ReadAsByteArrayAsync()).Length);
        Assert.Equal(second, CacheStatus(again));
        Assert.Equal(before + (second == "HIT" ? 1 : 2), counters.Get("sync"));
    }

    [Fact]
    public async Task OversizedQueryAndHeaderValues_AreAnsweredUncached_AndStoreNothing()
    {
        using var client = _app.CreateClient();
        var huge = new string('q', 100_000);
        var before = Store.Count;

        var query = await client.GetAsync($"/search?q={huge}&page=1");
        using var request = new HttpRequestMessage(HttpMethod.Get, "/search?q=a&page=1");
        request.Headers.Add("X-Tenant", new string('t', 50_000));
        var header = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, query.StatusCode);
        Assert.Equal("MISS", CacheStatus(query));
        Assert.Equal(HttpStatusCode.OK, header.StatusCode);
        Assert.Equal("MISS", CacheStatus(header));
        Assert.Equal(before, Store.Count);
    }

    [Fact]
    public async Task AnArgumentThatMakesAValidKeyButNoValidTag_IsAnsweredUncached_AndStoresNothing()
    {
        using var client = _app.CreateClient();
        var before = Store.Count;
        var slug = new string('s', 190); // its key (the prefix, the argument) fits Rc:MaximumKeyLength, its tag does not
        Assert.True(RcKey.For("L", slug).Length <= 200 && $"labelled-page:{slug}".Length > 200);

        var first = await client.GetAsync($"/labelled/{slug}");
        var second = await client.GetAsync($"/labelled/{slug}");

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal("labelled 190 #1", await first.Content.ReadAsStringAsync());
        Assert.Equal("labelled 190 #2", await second.Content.ReadAsStringAsync());
        Assert.Equal("MISS", CacheStatus(second));
        Assert.Equal(before, Store.Count);
    }

    [Fact]
    public async Task AMalformedForm_GetsTheAppsOwnAnswer_NotAServerError()
    {
        // A form argument is read from the request's form: a malformed one is the framework's to refuse (400), as
        // without the cache, never a server error of the cache's.
        using var client = _app.CreateClient();
        var before = Store.Count;
        var body = new StringContent("--x\r\nContent-Disposition: form-data; name=\"v\"\r\n\r\n5");
        body.Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse("multipart/form-data; boundary=x");
        using var request = new HttpRequestMessage(HttpMethod.Get, "/form") { Content = body };

        var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.NotEqual("HIT", CacheStatus(response));
        Assert.Equal(before, Store.Count);
    }

    [Theory]
    [InlineData("/kind/int?v=12x")]
    [InlineData("/kind/int?v=99999999999999999999")]
    [InlineData("/kind/guid?v=not-a-guid")]
    [InlineData("/kind/datetime?v=yesterday")]
    [InlineData("/kind/int?v=1&v=2")]
    [InlineData("/kind/int?v=")]
    [InlineData("/kind/enum?v=Execute")]
    public async Task MalformedValues_GetTheAppsOwnAnswer_AndStoreNothing(string path)
    {
        using var client = _app.CreateClient();
        var before = Store.Count;
        var response = await client.GetAsync(path);

        // The binder refuses them, as it would without the cache (its error response replaces every header); the cache
        // adds no failure of its own and keeps nothing.
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.NotEqual("HIT", CacheStatus(response));
        Assert.Equal(before, Store.Count);
    }

    [Fact]
    public async Task FloodOfDistinctArguments_CannotPushOutWhatOtherEndpointsRead_OrGrowTheStorePastItsLimit()
    {
        using var client = _app.CreateClient();
        var read = new[] { "/hello/ann", "/hello/bob", "/post/1", "/news" };
        foreach (var path in read)
        {
            await client.GetAsync(path);
            Assert.Equal("HIT", CacheStatus(await client.GetAsync(path)));
        }

        // Thousands of one-off pages, each stored once and never read again: several times what the store holds.
        var largest = 0L;
        for (var i = 0; i < 3000; i++)
        {
            var flood = await client.GetAsync($"/page/flood-{i}-{new string('x', 100)}");
            Assert.Equal(HttpStatusCode.OK, flood.StatusCode);
            largest = Math.Max(largest, Store.Size);
        }

        Assert.InRange(largest, 1, SizeLimit);
        foreach (var path in read)
        {
            Assert.Equal("HIT", CacheStatus(await client.GetAsync(path)));
        }
    }
}
