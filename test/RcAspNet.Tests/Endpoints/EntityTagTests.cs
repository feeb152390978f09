using System.Buffers.Binary;
using System.Net;
using System.Text;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Endpoints;

/// <summary>The entity tag of an [RcCached] entry, and the 304 it earns a request whose If-None-Match matches it.</summary>
public abstract class EntityTagTests : IAsyncLifetime
{
    private TestAppFactory? _app;

    private TestAppFactory App => _app!;

    public async Task InitializeAsync()
    {
        var settings = await SettingsAsync();
        settings["Rc:Namespace"] = SharedRedis.UniqueNamespace();
        settings["Rc:OperationTimeout"] = "00:00:10";
        _app = new TestAppFactory(settings);
        _ = _app.Server;
    }

    public async Task DisposeAsync() => await App.DisposeAsync();

    protected abstract Task<Dictionary<string, string?>> SettingsAsync();

    private async Task<(HttpResponseMessage Response, string Body)> SendAsync(string path, string? ifNoneMatch = null, HttpMethod? method = null, string? ifModifiedSince = null)
    {
        using var client = App.CreateClient();
        using var request = new HttpRequestMessage(method ?? HttpMethod.Get, path);
        if (ifNoneMatch is not null)
        {
            request.Headers.TryAddWithoutValidation("If-None-Match", ifNoneMatch);
        }

        if (ifModifiedSince is not null)
        {
            request.Headers.TryAddWithoutValidation("If-Modified-Since", ifModifiedSince);
        }

        var response = await client.SendAsync(request);
        return (response, await response.Content.ReadAsStringAsync());
    }

    private static string? CacheStatus(HttpResponseMessage response) =>
        response.Headers.TryGetValues("X-Cache", out var values) ? values.Single() : null;

    private static string? ETag(HttpResponseMessage response) =>
        response.Headers.TryGetValues("ETag", out var values) ? values.Single() : null;

    [Theory]
    [InlineData("/hello/etag")]
    [InlineData("/mvc/page/3")]
    [InlineData("/greeting/ann?times=1")]
    public async Task Miss_SendsAStrongETag_AndTheHitTheSame(string path)
    {
        var miss = await SendAsync(path);
        var hit = await SendAsync(path);
        Assert.Equal("MISS", CacheStatus(miss.Response));
        Assert.Equal("HIT", CacheStatus(hit.Response));
        Assert.Matches("^\"[0-9a-f]{32}\"$", ETag(miss.Response));
        Assert.Equal(ETag(miss.Response), ETag(hit.Response));
    }

    [Fact]
    public async Task MatchingIfNoneMatch_Gets304FromTheCache_WithoutRunningTheHandler()
    {
        var miss = await SendAsync("/hello/ann");
        var tag = ETag(miss.Response)!;

        var revalidated = await SendAsync("/hello/ann", tag);
        Assert.Equal(HttpStatusCode.NotModified, revalidated.Response.StatusCode);
        Assert.Equal("", revalidated.Body);
        Assert.Equal(tag, ETag(revalidated.Response));
        Assert.Equal("HIT", CacheStatus(revalidated.Response));
        Assert.Null(revalidated.Response.Content.Headers.ContentType);
        Assert.Equal(1, App.Counters.Get("hello"));
    }

    [Fact]
    public async Task IfModifiedSince_NotBeforeTheHandlersLastModified_Gets304FromTheCache()
    {
        var miss = await SendAsync("/dated/1");
        Assert.Equal("Wed, 01 Jan 2025 00:00:00 GMT", miss.Response.Content.Headers.GetValues("Last-Modified").Single());

        var same = await SendAsync("/dated/1", ifModifiedSince: "Wed, 01 Jan 2025 00:00:00 GMT");
        var later = await SendAsync("/dated/1", ifModifiedSince: "Thu, 02 Jan 2025 00:00:00 GMT");
        Assert.Equal((HttpStatusCode.NotModified, "", "HIT"), (same.Response.StatusCode, same.Body, CacheStatus(same.Response)));
        Assert.Equal(HttpStatusCode.NotModified, later.Response.StatusCode);

        // Modified since the client's date, a date that does not parse, or an If-None-Match (which takes precedence)
        // that does not match: the entry.
        Assert.Equal((HttpStatusCode.OK, miss.Body), ((await SendAsync("/dated/1", ifModifiedSince: "Tue, 31 Dec 2024 23:59:59 GMT")) is var (r1, b1) ? (r1.StatusCode, b1) : default));
        Assert.Equal(HttpStatusCode.OK, (await SendAsync("/dated/1", ifModifiedSince: "yesterday")).Response.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync("/dated/1", "\"other\"", ifModifiedSince: "Thu, 02 Jan 2025 00:00:00 GMT")).Response.StatusCode);
        Assert.Equal(1, App.Counters.Get("dated"));
    }

    [Fact]
    public async Task ARevalidatingMiss_OfAHandlerThatHonoursConditions_IsStored_AndAnswered304FromTheEntry()
    {
        // The handler (Results.File with a Last-Modified) would answer the revalidation 304 itself, which is not stored:
        // it renders the entry whole, and the entry answers the condition.
        var revalidating = await SendAsync("/file/1", ifModifiedSince: "Wed, 01 Jan 2025 00:00:00 GMT");
        Assert.Equal((HttpStatusCode.NotModified, "", "MISS"), (revalidating.Response.StatusCode, revalidating.Body, CacheStatus(revalidating.Response)));

        var plain = await SendAsync("/file/1");
        Assert.Equal((HttpStatusCode.OK, "file 1 #1", "HIT"), (plain.Response.StatusCode, plain.Body, CacheStatus(plain.Response)));
        Assert.Equal(1, App.Counters.Get("file"));
    }

    [Fact]
    public async Task OtherIfNoneMatch_GetsTheEntry()
    {
        var miss = await SendAsync("/hello/bob");
        var hit = await SendAsync("/hello/bob", "\"0123456789abcdef0123456789abcdef\"");
        Assert.Equal(HttpStatusCode.OK, hit.Response.StatusCode);
        Assert.Equal(miss.Body, hit.Body);
        Assert.Equal(ETag(miss.Response), ETag(hit.Response));
        Assert.Equal(1, App.Counters.Get("hello"));
    }

    [Theory]
    [InlineData("W/{0}")]
    [InlineData("\"other\", {0}")]
    [InlineData("W/\"other\",W/{0} , \"more\"")]
    [InlineData("*")]
    public async Task WeakListAndAnyForms_Match(string form)
    {
        var tag = ETag((await SendAsync("/hello/forms")).Response)!;
        var revalidated = await SendAsync("/hello/forms", string.Format(System.Globalization.CultureInfo.InvariantCulture, form, tag));
        Assert.Equal(HttpStatusCode.NotModified, revalidated.Response.StatusCode);
        Assert.Equal(tag, ETag(revalidated.Response));
        Assert.Equal(1, App.Counters.Get("hello"));
    }

    [Fact]
    public async Task MalformedIfNoneMatch_IsIgnored()
    {
        var tag = ETag((await SendAsync("/hello/malformed")).Response)!;
        var hit = await SendAsync("/hello/malformed", tag.Trim('"'));
        Assert.Equal(HttpStatusCode.OK, hit.Response.StatusCode);
        Assert.Equal("HIT", CacheStatus(hit.Response));
    }

    [Fact]
    public async Task InvalidatedEntry_WithChangedContent_GetsANewETag()
    {
        var first = await SendAsync("/post/5");
        var tag = ETag(first.Response)!;
        Assert.Equal(new RcRemovalResult(1, 0), await App.Cache.InvalidateAsync("ShowPost", 5));

        // The page's content changed (the handler's run count is in it): the old tag no longer matches.
        var next = await SendAsync("/post/5", tag);
        Assert.Equal(HttpStatusCode.OK, next.Response.StatusCode);
        Assert.Equal("MISS", CacheStatus(next.Response));
        Assert.NotEqual(first.Body, next.Body);
        Assert.NotNull(ETag(next.Response));
        Assert.NotEqual(tag, ETag(next.Response));
        Assert.Equal(ETag(next.Response), ETag((await SendAsync("/post/5")).Response));
    }

    [Fact]
    public async Task InvalidatedEntry_WithTheSameContent_KeepsItsETag_AndTheRenderedMissAnswers304()
    {
        var first = await SendAsync("/kind/int?v=42");
        var tag = ETag(first.Response)!;
        Assert.Equal(new RcRemovalResult(1, 0), await App.Cache.InvalidateAsync("kind.int", 42));

        var next = await SendAsync("/kind/int?v=42", tag);
        Assert.Equal(HttpStatusCode.NotModified, next.Response.StatusCode);
        Assert.Equal("MISS", CacheStatus(next.Response));
        Assert.Equal(tag, ETag(next.Response));
        Assert.Equal("", next.Body);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync("/kind/int?v=42")).Response.StatusCode);
    }

    [Fact]
    public async Task HandlersOwnETag_IsKeptAndCompared()
    {
        var miss = await SendAsync("/own-etag/1");
        var hit = await SendAsync("/own-etag/1");
        var revalidated = await SendAsync("/own-etag/1", "W/\"own-1\"");
        Assert.Equal("\"own-1\"", ETag(miss.Response));
        Assert.Equal("\"own-1\"", ETag(hit.Response));
        Assert.Equal("HIT", CacheStatus(hit.Response));
        Assert.Equal(HttpStatusCode.NotModified, revalidated.Response.StatusCode);
        Assert.Equal("\"own-1\"", ETag(revalidated.Response));
        Assert.Equal(1, App.Counters.Get("own-etag"));
    }

    [Fact]
    public async Task HeadRequest_GetsTheEntrysETag_And304()
    {
        var get = await SendAsync("/page/etag");
        var head = await SendAsync("/page/etag", method: HttpMethod.Head);
        var revalidated = await SendAsync("/page/etag", ETag(get.Response), HttpMethod.Head);
        Assert.Equal(HttpStatusCode.OK, head.Response.StatusCode);
        Assert.Equal("HIT", CacheStatus(head.Response));
        Assert.Equal(ETag(get.Response), ETag(head.Response));
        Assert.Equal("", head.Body);
        Assert.Equal(HttpStatusCode.NotModified, revalidated.Response.StatusCode);
        Assert.Equal(ETag(get.Response), ETag(revalidated.Response));
        Assert.Equal(1, App.Counters.Get("page"));
    }

    [Fact]
    public async Task HeadMiss_IsNotStored_AndCarriesNoETag()
    {
        var head = await SendAsync("/page/head-first", method: HttpMethod.Head);
        Assert.Equal(HttpStatusCode.OK, head.Response.StatusCode);
        Assert.Null(ETag(head.Response));
    }

    [Theory]
    [InlineData("/post/1000", HttpStatusCode.NotFound)]
    [InlineData("/problem", HttpStatusCode.InternalServerError)]
    [InlineData("/cookie", HttpStatusCode.OK)]
    [InlineData("/maybe/0", HttpStatusCode.OK)]
    public async Task AnswersThatAreNotStored_CarryNoETag_AndNever304(string path, HttpStatusCode status)
    {
        var first = await SendAsync(path);
        var second = await SendAsync(path, "*");
        Assert.Null(ETag(first.Response));
        Assert.Null(ETag(second.Response));
        Assert.Equal(status, second.Response.StatusCode);
    }

    [Fact]
    public async Task ConcurrentMisses_AllCarryTheEntrysETag()
    {
        var responses = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => SendAsync("/slow/2")));
        Assert.Equal(1, App.Counters.Get("slow"));
        Assert.Single(responses.Select(static r => ETag(r.Response)).Distinct());
        Assert.NotNull(ETag(responses[0].Response));
    }

    [Fact]
    public async Task EntryOfTheFirstEncoding_IsServedWithTheETagItWouldHaveNow()
    {
        // Version 1 of the encoding, as stored before entity tags: 01 | status | content-type length | content type | body.
        var type = "text/plain; charset=utf-8"u8.ToArray();
        var body = "Hello old #0"u8.ToArray();
        var entry = new byte[5 + type.Length + body.Length];
        entry[0] = 1;
        BinaryPrimitives.WriteUInt16BigEndian(entry.AsSpan(1), 200);
        BinaryPrimitives.WriteUInt16BigEndian(entry.AsSpan(3), (ushort)type.Length);
        type.CopyTo(entry, 5);
        body.CopyTo(entry, 5 + type.Length);
        await App.Services.GetRequiredService<IDistributedCache>().SetAsync(RcKey.For("GET:/hello/{name}", "old"), entry);

        var hit = await SendAsync("/hello/old");
        Assert.Equal("HIT", CacheStatus(hit.Response));
        Assert.Equal("Hello old #0", hit.Body);
        Assert.Equal(RcAspNet.Endpoints.CachedResponse.HashEntityTag(200, Encoding.UTF8.GetString(type), body), ETag(hit.Response));
        Assert.Equal(HttpStatusCode.NotModified, (await SendAsync("/hello/old", ETag(hit.Response))).Response.StatusCode);
        Assert.Equal(0, App.Counters.Get("hello"));
    }
}

public sealed class MemoryEntityTagTests : EntityTagTests
{
    protected override Task<Dictionary<string, string?>> SettingsAsync() => Task.FromResult(new Dictionary<string, string?>());
}

public sealed class RedisEntityTagTests : EntityTagTests
{
    protected override async Task<Dictionary<string, string?>> SettingsAsync() => new()
    {
        ["Rc:Store"] = "Redis",
        ["Rc:Redis"] = (await SharedRedis.Single).EndPoint,
    };
}
