using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Endpoints;

/// <summary>Rc:CacheStatusHeader names the header in which [RcCached] says HIT or MISS; empty, it sends none.</summary>
public sealed class CacheStatusHeaderTests
{
    private static TestAppFactory App(string header) => new(new Dictionary<string, string?>
    {
        ["Rc:Namespace"] = SharedRedis.UniqueNamespace(),
        ["Rc:CacheStatusHeader"] = header,
    });

    private static async Task<HttpResponseMessage> GetAsync(TestAppFactory app, string path)
    {
        using var client = app.CreateClient();
        return await client.GetAsync(path);
    }

    /// <summary>Every header of the response whose value is HIT or MISS, by name.</summary>
    private static string[] StatusHeaders(HttpResponseMessage response) =>
        [.. response.Headers.Concat(response.Content.Headers)
            .Where(static h => h.Value.Any(static v => v is "HIT" or "MISS"))
            .Select(static h => h.Key)];

    [Fact]
    public async Task CustomHeaderName_SaysMissThenHit()
    {
        await using var app = App("X-Rc-Status");
        using var miss = await GetAsync(app, "/hello/ann");
        using var hit = await GetAsync(app, "/hello/ann");
        Assert.Equal("MISS", miss.Headers.GetValues("X-Rc-Status").Single());
        Assert.Equal("HIT", hit.Headers.GetValues("X-Rc-Status").Single());
        Assert.Equal(["X-Rc-Status"], StatusHeaders(miss));
        Assert.Equal(["X-Rc-Status"], StatusHeaders(hit));
        Assert.Equal(1, app.Counters.Get("hello"));
    }

    [Fact]
    public async Task EmptyHeaderName_SendsNoStatusHeader()
    {
        await using var app = App("");
        using var miss = await GetAsync(app, "/hello/bob");
        using var hit = await GetAsync(app, "/hello/bob");
        Assert.Equal(await miss.Content.ReadAsStringAsync(), await hit.Content.ReadAsStringAsync());
        Assert.Equal(1, app.Counters.Get("hello"));
        Assert.Empty(StatusHeaders(miss));
        Assert.Empty(StatusHeaders(hit));
        Assert.False(hit.Headers.Contains("X-Cache"));
    }
}
