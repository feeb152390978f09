using System.Net;
using System.Text;
using RcAspNet.Endpoints;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Endpoints;

/// <summary>The headers a handler sets go with its [RcCached] entry to every hit, as output caching keeps them.</summary>
public abstract class StoredHeadersTests : IAsyncLifetime
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

    private async Task<HttpResponseMessage> SendAsync(string path, string? ifNoneMatch = null)
    {
        using var client = App.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (ifNoneMatch is not null)
        {
            request.Headers.TryAddWithoutValidation("If-None-Match", ifNoneMatch);
        }

        var response = await client.SendAsync(request);
        await response.Content.LoadIntoBufferAsync();
        return response;
    }

    /// <summary>A header's values, from the response's headers or its content's, joined; null when it has none.</summary>
    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) || response.Content.Headers.TryGetValues(name, out values) ? string.Join(" | ", values) : null;

    [Theory]
    [InlineData("/headers/1", "headers")]
    [InlineData("/headers/detached/1", "headers-detached")]
    public async Task HandlersHeaders_GoWithTheEntry_ToEveryHit(string path, string counter)
    {
        var miss = await SendAsync(path);
        var hit = await SendAsync(path);
        Assert.Equal("MISS", Header(miss, "X-Cache"));
        Assert.Equal("HIT", Header(hit, "X-Cache"));
        Assert.Equal(1, App.Counters.Get(counter));
        Assert.Equal(await miss.Content.ReadAsStringAsync(), await hit.Content.ReadAsStringAsync());
        foreach (var (name, value) in new[]
        {
            ("Content-Language", "fr"),
            ("Vary", "Accept-Language"),
            ("Cache-Control", "public, max-age=60"),
            ("Link", "</a.css>; rel=preload | </b.js>; rel=preload"),
            ("X-Frame-Options", "SAMEORIGIN"), // the handler's, not the value the middleware before the cache set
            ("X-Rendered", "1"),
        })
        {
            Assert.Equal(value, Header(miss, name));
            Assert.Equal(value, Header(hit, name));
        }

        Assert.Equal(miss.Content.Headers.ContentLength, hit.Content.Headers.ContentLength);
        Assert.Equal(Header(miss, "ETag"), Header(hit, "ETag"));
    }

    [Fact]
    public async Task HeadersAMiddlewareBeforeTheCacheSets_AreEachRequestsOwn()
    {
        var miss = await SendAsync("/headers/2");
        var hit = await SendAsync("/headers/2");
        Assert.Equal("HIT", Header(hit, "X-Cache"));
        Assert.NotNull(Header(miss, "X-Request-Id"));
        Assert.NotNull(Header(hit, "X-Request-Id"));
        Assert.NotEqual(Header(miss, "X-Request-Id"), Header(hit, "X-Request-Id"));
    }

    [Fact]
    public async Task NotModified_CarriesVaryAndCacheControl_NotTheRepresentationsOtherHeaders()
    {
        var miss = await SendAsync("/headers/3");
        var revalidated = await SendAsync("/headers/3", Header(miss, "ETag"));
        Assert.Equal(HttpStatusCode.NotModified, revalidated.StatusCode);
        Assert.Equal("HIT", Header(revalidated, "X-Cache"));
        Assert.Equal("Accept-Language", Header(revalidated, "Vary"));
        Assert.Equal("public, max-age=60", Header(revalidated, "Cache-Control"));
        Assert.Null(Header(revalidated, "Content-Language"));
        Assert.Null(Header(revalidated, "Link"));
        Assert.Null(Header(revalidated, "X-Rendered"));
    }

    [Fact]
    public void AnEntryWithHeaders_ReadsBackAsWritten_AndOneWithoutKeepsTheEncodingOlderNodesRead()
    {
        KeyValuePair<string, string>[] headers = [new("Link", "</a.css>"), new("Link", "</b.js>"), new("Content-Language", "fr-FR, é")];
        var entry = new CachedResponse(200, "text/plain", "body"u8.ToArray()) { StoredHeaders = headers }.AsEntry(null);
        var bytes = entry.Encode();
        Assert.Equal(3, bytes[0]);
        Assert.True(CachedResponse.TryDecode(bytes, out var read));
        Assert.Equal(headers, read!.StoredHeaders);
        Assert.Equal(entry.EntityTag, read.EntityTag);
        Assert.Equal("body", Encoding.UTF8.GetString(read.Body.Span));

        // An entry cut inside its headers is no entry.
        Assert.False(CachedResponse.TryDecode(bytes.AsMemory(0, bytes.Length - "body".Length - 1), out _));

        var plain = new CachedResponse(200, "text/plain", "body"u8.ToArray()).AsEntry(null).Encode();
        Assert.Equal(2, plain[0]);
        Assert.True(CachedResponse.TryDecode(plain, out var plainRead));
        Assert.Null(plainRead!.StoredHeaders);
    }

    [Fact]
    public void TheEntityTag_CoversTheStoredHeaders()
    {
        var body = "same"u8.ToArray();
        var none = CachedResponse.HashEntityTag(200, "text/plain", body, null);
        Assert.Equal(none, CachedResponse.HashEntityTag(200, "text/plain", body, []));
        Assert.NotEqual(none, CachedResponse.HashEntityTag(200, "text/plain", body, [new("Content-Language", "fr")]));
        Assert.NotEqual(
            CachedResponse.HashEntityTag(200, "text/plain", body, [new("a", "bc")]),
            CachedResponse.HashEntityTag(200, "text/plain", body, [new("ab", "c")]));
    }
}

public sealed class MemoryStoredHeadersTests : StoredHeadersTests
{
    protected override Task<Dictionary<string, string?>> SettingsAsync() => Task.FromResult(new Dictionary<string, string?>());
}

public sealed class RedisStoredHeadersTests : StoredHeadersTests
{
    protected override async Task<Dictionary<string, string?>> SettingsAsync() => new()
    {
        ["Rc:Store"] = "Redis",
        ["Rc:Redis"] = (await SharedRedis.Single).EndPoint,
    };
}
