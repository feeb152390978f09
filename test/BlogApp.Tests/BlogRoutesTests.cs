using System.Net;
using BlogApp.Tests.Infrastructure;

namespace BlogApp.Tests;

/// <summary>Every route of the tutorial, on the embedded store.</summary>
public sealed class BlogRoutesTests : IAsyncLifetime
{
    private readonly BlogFactory _blog = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _blog.DisposeAsync();

    [Fact]
    public async Task Index_ShowsTheBlogAndItsAddForm()
    {
        using var client = _blog.Browser();
        var html = await client.GetStringAsync("/");
        Assert.Contains("<h1>Blog</h1>", html, StringComparison.Ordinal);
        Assert.Contains("<form action=\"/add\" method=\"post\">", html, StringComparison.Ordinal);
        Assert.NotEmpty(BlogFactory.Token(html));
    }

    [Fact]
    public async Task Add_RedirectsAndTheIndexListsTheNewPost()
    {
        using var client = _blog.Browser();
        await client.GetStringAsync("/");
        var added = await _blog.AddAsync(client, "First post", "Hello");
        Assert.Equal(HttpStatusCode.Redirect, added.StatusCode);
        Assert.Equal("/", added.Headers.Location?.ToString());
        Assert.Contains("<a href=\"/post/1\">First post</a>", await client.GetStringAsync("/"), StringComparison.Ordinal);
        await _blog.AddAsync(client, "Second post", "Again");
        Assert.Contains("<a href=\"/post/2\">Second post</a>", await client.GetStringAsync("/"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Add_WithoutAntiforgeryToken_IsRejectedAndChangesNothing()
    {
        using var client = _blog.Browser();
        var response = await client.PostAsync("/add", BlogFactory.Form(("title", "t"), ("content", "c")));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.DoesNotContain("/post/1", await client.GetStringAsync("/"), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", "content", "A title is required.")]
    [InlineData("title", " ", "Content is required.")]
    public async Task Add_InvalidInput_ReshowsTheFormWithAMessageAndChangesNothing(string title, string content, string message)
    {
        using var client = _blog.Browser();
        var response = await _blog.AddAsync(client, title, content);
        var html = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(message, html, StringComparison.Ordinal);
        Assert.Contains("<form action=\"/add\"", html, StringComparison.Ordinal);
        Assert.DoesNotContain("/post/1", await client.GetStringAsync("/"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Add_TitleOver100Characters_IsRefused()
    {
        using var client = _blog.Browser();
        var response = await _blog.AddAsync(client, new string('t', 101), "content");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("at most 100 characters", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Redirect, (await _blog.AddAsync(client, new string('t', 100), "content")).StatusCode);
    }

    [Fact]
    public async Task Post_ShowsTitleContentAndAnEditLink_EncodingUserText()
    {
        using var client = _blog.Browser();
        await _blog.AddAsync(client, "<script>alert(1)</script>", "a & b");
        var html = await client.GetStringAsync("/post/1");
        Assert.Contains("<h1>&lt;script&gt;alert(1)&lt;/script&gt;</h1>", html, StringComparison.Ordinal);
        Assert.Contains("<p>a &amp; b</p>", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script", html, StringComparison.Ordinal);
        Assert.Contains("<a href=\"/post/1/edit\">Edit</a>", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<form", html, StringComparison.Ordinal);
        Assert.Contains("&lt;script&gt;", await client.GetStringAsync("/"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task EditPage_CarriesEachVisitorsOwnTokenAndIsNeverCached()
    {
        using var alice = _blog.Browser();
        using var bob = _blog.Browser();
        await _blog.AddAsync(alice, "Editable", "text");
        var first = await alice.GetAsync("/post/1/edit");
        var again = await alice.GetAsync("/post/1/edit");
        var html = await first.Content.ReadAsStringAsync();
        Assert.Contains("<form action=\"/post/1\" method=\"post\">", html, StringComparison.Ordinal);
        Assert.Contains("value=\"Editable\"", html, StringComparison.Ordinal);
        Assert.False(again.Headers.Contains("X-Cache"));
        Assert.NotEqual(BlogFactory.Token(html), BlogFactory.Token(await bob.GetStringAsync("/post/1/edit")));
        Assert.Equal(HttpStatusCode.NotFound, (await alice.GetAsync("/post/9/edit")).StatusCode);
    }

    [Fact]
    public async Task Stats_DrawsHitRatioByCacheAndRoundTripsAndErrorsByShard()
    {
        using var client = _blog.Browser();
        await _blog.AddAsync(client, "Counted", "c");
        await client.GetStringAsync("/post/1");
        await client.GetStringAsync("/post/1");
        var stats = await client.GetAsync("/stats");
        var html = await stats.Content.ReadAsStringAsync();
        Assert.Equal("no-store", stats.Headers.CacheControl?.ToString());
        Assert.False(stats.Headers.Contains("X-Cache"));
        Assert.Contains("<svg id=\"hit-ratio\"", html, StringComparison.Ordinal);
        Assert.Matches("<title>default: \\d+% \\(\\d+ hits, \\d+ misses\\)</title>", html);
        Assert.Matches("<title>pages: 50% \\(1 hits, 1 misses\\)</title>", html);
        // The embedded store makes no round trips; BlogRedisTests draws the shards of a Redis fleet.
        Assert.Contains("Store round trips by shard</h2>\n<p id=\"round-trips\">Nothing yet.</p>", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Post_IsCachedByRcCached()
    {
        using var client = _blog.Browser();
        await _blog.AddAsync(client, "Cached", "c");
        var miss = await client.GetAsync("/post/1");
        _blog.Sql.Reset();
        var hit = await client.GetAsync("/post/1");
        Assert.Equal("MISS", miss.Headers.GetValues("X-Cache").Single());
        Assert.Equal("HIT", hit.Headers.GetValues("X-Cache").Single());
        Assert.Equal(0, _blog.Sql.Count);
    }

    [Fact]
    public async Task UnknownPost_Is404AndNotCached()
    {
        using var client = _blog.Browser();
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/post/1")).StatusCode);
        await _blog.AddAsync(client, "Now it exists", "c");
        var page = await client.GetAsync("/post/1");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("Now it exists", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Update_NextReadShowsTheNewTitle()
    {
        using var client = _blog.Browser();
        await _blog.AddAsync(client, "Old title", "old");
        Assert.Contains("Old title", await client.GetStringAsync("/post/1"), StringComparison.Ordinal);
        Assert.Contains("Old title", await client.GetStringAsync("/"), StringComparison.Ordinal);
        Assert.Contains("Old title", await client.GetStringAsync("/api/posts/1"), StringComparison.Ordinal);

        var updated = await BlogFactory.UpdateAsync(client, 1, "New title", "new");
        Assert.Equal(HttpStatusCode.Redirect, updated.StatusCode);
        Assert.Contains("<h1>New title</h1>", await client.GetStringAsync("/post/1"), StringComparison.Ordinal);
        Assert.Contains(">New title</a>", await client.GetStringAsync("/"), StringComparison.Ordinal);
        Assert.Contains("\"title\":\"New title\"", await client.GetStringAsync("/api/posts/1"), StringComparison.Ordinal);
        Assert.Contains("\"title\":\"New title\"", await client.GetStringAsync("/api/posts"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Update_UnknownPost_Is404()
    {
        using var client = _blog.Browser();
        Assert.Equal(HttpStatusCode.NotFound, (await BlogFactory.UpdateAsync(client, 42, "t", "c")).StatusCode);
    }

    [Fact]
    public async Task Update_InvalidInput_ReshowsTheFormAndChangesNothing()
    {
        using var client = _blog.Browser();
        await _blog.AddAsync(client, "Keep me", "c");
        var response = await BlogFactory.UpdateAsync(client, 1, "", "c");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("A title is required.", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Contains("Keep me", await client.GetStringAsync("/post/1"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Update_WithoutAntiforgeryToken_IsRejected()
    {
        using var client = _blog.Browser();
        await _blog.AddAsync(client, "Safe", "c");
        var response = await client.PostAsync("/post/1", BlogFactory.Form(("title", "Hacked"), ("content", "x")));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("Safe", await client.GetStringAsync("/post/1"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Api_ServesPostsAsRcsJson()
    {
        using var client = _blog.Browser();
        await _blog.AddAsync(client, "Api", "json");
        var post = await client.GetStringAsync("/api/posts/1");
        Assert.Matches("^\\{\"id\":1,\"title\":\"Api\",\"content\":\"json\",\"created_ts\":\\d+,\"updated_ts\":\\d+\\}$", post);
        Assert.StartsWith("[{\"id\":1,", await client.GetStringAsync("/api/posts"), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/api/posts/9")).StatusCode);
    }

    [Fact]
    public async Task Feed_IsRenderedOnceAMinuteThroughIDistributedCache()
    {
        using var client = _blog.Browser();
        await _blog.AddAsync(client, "Feed me", "c");
        Assert.Contains("<title>Feed me</title>", await client.GetStringAsync("/feed"), StringComparison.Ordinal);
        _blog.Sql.Reset();
        await client.GetStringAsync("/feed");
        Assert.Equal(0, _blog.Sql.Count);
    }
}
