using System.Net;
using System.Text;
using RcAspNet.Endpoints;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Endpoints;

/// <summary>The headers a handler sets go with its [RcCached] entry to every hit, as output caching keeps them.</summary>
public abstract class StoredHeadersTests : IAsyncLifetime
{
    private readonly ManualTimeProvider _clock = new(DateTimeOffset.UtcNow);
    private TestAppFactory? _app;

    protected TestAppFactory App => _app!;

    protected ManualTimeProvider Clock => _clock;

    /// <summary>Gets the app's settings, its namespace included: another node of the same app starts with them.</summary>
    protected Dictionary<string, string?> Settings { get; private set; } = [];

    public async Task InitializeAsync()
    {
        var settings = await SettingsAsync();
        settings["Rc:Namespace"] = SharedRedis.UniqueNamespace();
        settings["Rc:OperationTimeout"] = "00:00:10";
        Settings = settings;
        _app = new TestAppFactory(settings, _clock);
        _ = _app.Server;
    }

    public async Task DisposeAsync() => await App.DisposeAsync();

    protected abstract Task<Dictionary<string, string?>> SettingsAsync();

    protected async Task<HttpResponseMessage> SendAsync(string path, string? ifNoneMatch = null)
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
    protected static string? Header(HttpResponseMessage response, string name) =>
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
            ("Vary", "Accept-Encoding | Accept-Language"), // the middleware's, and what the handler added
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
        Assert.Null(Header(miss, "Age"));
        Assert.Equal("0", Header(hit, "Age"));
    }

    [Fact]
    public async Task AHit_SaysHowLongAgoItsEntryWasRendered()
    {
        await SendAsync("/headers/4");
        _clock.Advance(TimeSpan.FromSeconds(42));
        var hit = await SendAsync("/headers/4");
        Assert.Equal("HIT", Header(hit, "X-Cache"));
        Assert.Equal("42", Header(hit, "Age"));
    }

    [Fact]
    public async Task AHeaderTheHandlerRemoved_IsRemovedFromEveryHit()
    {
        var miss = await SendAsync("/headers/framed/1");
        var hit = await SendAsync("/headers/framed/1");
        Assert.Equal("HIT", Header(hit, "X-Cache"));
        Assert.Null(Header(miss, "X-Frame-Options"));
        Assert.Null(Header(hit, "X-Frame-Options"));
        Assert.NotNull(Header(hit, "X-Request-Id"));
    }

    [Fact]
    public async Task AFailSafeFallback_CarriesItsHandlersHeaders_ItsAge_AndWhatTheMiddlewareBeforeTheCacheSet()
    {
        var miss = await SendAsync("/headers/resilient/1");
        _clock.Advance(TimeSpan.FromSeconds(11));
        App.Counters.SourceDown = true;
        var stale = await SendAsync("/headers/resilient/1");
        Assert.Equal((HttpStatusCode.OK, "STALE"), (stale.StatusCode, Header(stale, "X-Cache")));
        Assert.Equal(await miss.Content.ReadAsStringAsync(), await stale.Content.ReadAsStringAsync());
        Assert.Equal("fr", Header(stale, "Content-Language"));
        Assert.Equal("11", Header(stale, "Age"));

        // The failed render's response was cleared; the request id the middleware set for this request is back.
        Assert.NotNull(Header(stale, "X-Request-Id"));
        Assert.NotEqual(Header(miss, "X-Request-Id"), Header(stale, "X-Request-Id"));
    }

    [Fact]
    public async Task AFailSafeFallbackAfterTheHandlerThrew_CarriesNoneOfWhatTheFailedHandlerSet()
    {
        var miss = await SendAsync("/headers/throwing/1");
        _clock.Advance(TimeSpan.FromSeconds(11));
        App.Counters.SourceDown = true;
        var stale = await SendAsync("/headers/throwing/1");
        Assert.Equal((HttpStatusCode.OK, "STALE"), (stale.StatusCode, Header(stale, "X-Cache")));
        Assert.Equal(await miss.Content.ReadAsStringAsync(), await stale.Content.ReadAsStringAsync());
        Assert.Null(stale.Content.Headers.ContentDisposition);
        Assert.NotNull(Header(stale, "X-Request-Id"));
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
        Assert.Equal("Accept-Encoding | Accept-Language", Header(revalidated, "Vary"));
        Assert.Equal("public, max-age=60", Header(revalidated, "Cache-Control"));
        Assert.Null(Header(revalidated, "Content-Language"));
        Assert.Null(Header(revalidated, "Link"));
        Assert.Null(Header(revalidated, "X-Rendered"));

        // What the middleware before the cache set for this request stays: its own frame option, not the entry's.
        Assert.Equal("DENY", Header(revalidated, "X-Frame-Options"));
        Assert.NotNull(Header(revalidated, "X-Request-Id"));
    }

    [Fact]
    public void AnEntryWithHeaders_ReadsBackAsWritten_AndOneWithoutKeepsTheEncodingOlderNodesRead()
    {
        KeyValuePair<string, string?>[] fields = [new("Link", "</a.css>"), new("Link", "</b.js>"), new("Content-Language", "fr-FR, é"), new("X-Frame-Options", null)];
        var written = DateTimeOffset.FromUnixTimeMilliseconds(1_780_000_000_123);
        var entry = new CachedResponse(200, "text/plain", "body"u8.ToArray()) { StoredHeaders = new HandlerHeaders(fields) }.AsEntry(null, written);
        var bytes = entry.Encode();
        Assert.Equal(3, bytes[0]);
        Assert.True(CachedResponse.TryDecode(bytes, out var read));
        Assert.Equal(fields, read!.StoredHeaders!.Fields);
        Assert.Equal(written, read.WrittenAt);
        Assert.Equal(entry.EntityTag, read.EntityTag);
        Assert.Equal("body", Encoding.UTF8.GetString(read.Body.Span));

        // An entry cut inside its headers is no entry.
        Assert.False(CachedResponse.TryDecode(bytes.AsMemory(0, bytes.Length - "body".Length - 3), out _));

        var plain = new CachedResponse(200, "text/plain", "body"u8.ToArray()).AsEntry(null, written);
        Assert.Null(plain.WrittenAt);
        Assert.Equal(2, plain.Encode()[0]);
        Assert.True(CachedResponse.TryDecode(plain.Encode(), out var plainRead));
        Assert.Null(plainRead!.StoredHeaders);
        Assert.Null(plainRead.WrittenAt);
    }

    [Theory]
    [InlineData("Set-Cookie", "a=b")] // never kept: it would be replayed to everyone
    [InlineData("Content-Length", "4")]
    [InlineData("X Bad", "v")] // no token
    [InlineData("", "v")]
    [InlineData("X-Split", "a\r\nSet-Cookie: a=b")]
    [InlineData("X-Nul", "a\0b")]
    public void AnEntryWithHeadersNoHandlerCouldHaveSet_IsAMiss_NotAnAnswer(string name, string value)
    {
        var bytes = new CachedResponse(200, "text/plain", "body"u8.ToArray()) { StoredHeaders = new HandlerHeaders([new(name, value)]) }.AsEntry(null, DateTimeOffset.UnixEpoch).Encode();
        Assert.False(CachedResponse.TryDecode(bytes, out _));
    }

    [Fact]
    public void AHeaderCountTheBytesCannotHold_IsAMiss()
    {
        var bytes = new CachedResponse(200, "text/plain", "body"u8.ToArray()) { StoredHeaders = new HandlerHeaders([new("X-A", "b")]) }.AsEntry(null, DateTimeOffset.UnixEpoch).Encode();
        var count = Array.IndexOf(bytes, (byte)'X') - 4; // the count comes just before the first name's length
        bytes[count] = 0xFF;
        bytes[count + 1] = 0xFF;
        Assert.False(CachedResponse.TryDecode(bytes, out _));
    }

    [Fact]
    public void TheEntityTag_DoesNotHashTheHeaders_SoARenderThatOnlyChangedAHeaderKeepsIt()
    {
        var first = new CachedResponse(200, "text/plain", "same"u8.ToArray()) { StoredHeaders = new HandlerHeaders([new("X-Rendered", "1")]) }.AsEntry(null, DateTimeOffset.UnixEpoch);
        var second = new CachedResponse(200, "text/plain", "same"u8.ToArray()) { StoredHeaders = new HandlerHeaders([new("X-Rendered", "2")]) }.AsEntry(null, DateTimeOffset.UnixEpoch);
        Assert.Equal(first.EntityTag, second.EntityTag);
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

    [Fact]
    public async Task AFreshEntryAnotherNodeStoredWhileTheHandlerFailed_IsServedWithoutWhatTheFailedHandlerSet()
    {
        await SendAsync("/headers/throwing/3");
        Clock.Advance(TimeSpan.FromSeconds(11));
        await using var other = new TestAppFactory(Settings, Clock);
        using var otherClient = other.CreateClient();

        // This node's handler fails (it set Content-Disposition first) while another node renders the key afresh.
        App.Counters.SourceDown = true;
        App.Counters.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var failing = SendAsync("/headers/throwing/3");
        await App.Counters.Entered.Task.WaitAsync(TimeSpan.FromSeconds(30));
        using var fresh = await otherClient.GetAsync("/headers/throwing/3");
        var freshBody = await fresh.Content.ReadAsStringAsync();
        Assert.Equal((HttpStatusCode.OK, "MISS"), (fresh.StatusCode, Header(fresh, "X-Cache")));
        App.Counters.Gate.SetResult();

        // Fail-safe reads the key again before it answers, and finds the other node's fresh entry: a hit, with none of
        // what the failed handler set on this response.
        using var hit = await failing;
        Assert.Equal((HttpStatusCode.OK, "HIT", freshBody), (hit.StatusCode, Header(hit, "X-Cache"), await hit.Content.ReadAsStringAsync()));
        Assert.Null(hit.Content.Headers.ContentDisposition);
        Assert.NotNull(Header(hit, "X-Request-Id"));
    }
}
