using BlogApp;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Caching.Distributed;
using RcAspNet;

var builder = WebApplication.CreateBuilder(args);

// RcAspNet from the Rc section: the embedded store by default; Rc__Store=Redis or Sharded moves it to Redis.
builder.Services.AddRcCache(builder.Configuration.GetSection("Rc"));
builder.Services.AddDbContext<BlogDb>(o => o.UseSqlite(builder.Configuration.GetConnectionString("Blog")));
builder.Services.AddScoped<Posts>();
builder.Services.AddAntiforgery();
builder.Services.AddHealthChecks().AddRcHealthCheck();
var postCaching = builder.Configuration.GetValue("Blog:PostCaching", PostCaching.RcCached);
if (postCaching == PostCaching.OutputCache)
{
    builder.Services.AddOutputCache();
}

var app = builder.Build();
await using (var scope = app.Services.CreateAsyncScope())
{
    var db = scope.ServiceProvider.GetRequiredService<BlogDb>();
    await db.Database.EnsureCreatedAsync();
    await Seed.RunAsync(db, app.Configuration.GetValue<int>("Blog:SeedPosts"));
}

if (postCaching == PostCaching.OutputCache)
{
    app.UseOutputCache();
}

app.UseAntiforgery();

// GET /: every post, looked up through the request's batch (one MGET per shard on a warm cache, no SQL).
app.MapGet("/", async (Posts posts, IAntiforgery antiforgery, HttpContext http, CancellationToken ct) =>
    Results.Content(Pages.Index(await posts.GetManyAsync(await posts.GetAllIdsAsync(ct), ct), antiforgery.GetAndStoreTokens(http)), "text/html; charset=utf-8"));

app.MapPost("/add", async ([FromForm] string? title, [FromForm] string? content, Posts posts, IAntiforgery antiforgery, HttpContext http, CancellationToken ct) =>
{
    if (new PostForm(title, content).Error() is { } error)
    {
        var all = await posts.GetManyAsync(await posts.GetAllIdsAsync(ct), ct);
        return Results.Content(Pages.Index(all, antiforgery.GetAndStoreTokens(http), error, title, content), "text/html; charset=utf-8", statusCode: 400);
    }

    await posts.AddAsync(title!, content!, ct);
    return Results.Redirect("/");
});

// GET /post/{id}: the page is cached by [RcCached] under "ShowPost {id}"; an update invalidates it.
var showPost = postCaching == PostCaching.RcCached
    ? app.MapGet("/post/{id:int}", ShowPost.Handler).CacheResult()
    : app.MapGet("/post/{id:int}", ShowPost.Uncached);
showPost.WithName("ShowPost");
if (postCaching == PostCaching.OutputCache)
{
    showPost.CacheOutput(); // The framework's own output cache, a baseline of the load tests in benchmarks/http.
}

app.MapPost("/post/{id:int}", async (int id, [FromForm] string? title, [FromForm] string? content, Posts posts, IAntiforgery antiforgery, HttpContext http, CancellationToken ct) =>
{
    if (await posts.GetByIdAsync(id, ct) is not { } post)
    {
        return Results.Content(Pages.NotFound(), "text/html; charset=utf-8", statusCode: 404);
    }

    if (new PostForm(title, content).Error() is { } error)
    {
        return Results.Content(Pages.EditPost(post, antiforgery.GetAndStoreTokens(http), error, title, content), "text/html; charset=utf-8", statusCode: 400);
    }

    await posts.UpdateAsync(id, title!, content!, ct);
    return Results.Redirect("/");
});

// Healthy when every cache server answers, Degraded when some do (their keys are misses), Unhealthy when none does.
app.MapHealthChecks("/health");

// The visitor's own antiforgery token, for the form of a cached page.
app.MapGet("/antiforgery", (IAntiforgery antiforgery, HttpContext http) =>
{
    var token = antiforgery.GetAndStoreTokens(http);
    http.Response.Headers.CacheControl = "no-store";
    return Results.Json(new { field = token.FormFieldName, value = token.RequestToken });
});

// A small JSON API, cached by [RcCached] as well.
var api = app.MapGroup("/api").CacheResult();
api.MapGet("/posts", [RcCached(Expire = 600)] async (Posts posts, CancellationToken ct) =>
    await posts.GetManyAsync(await posts.GetAllIdsAsync(ct), ct)).WithName("ApiPosts");
api.MapGet("/posts/{id:int}", [RcCached(Expire = 600)] async (int id, Posts posts, CancellationToken ct) =>
    await posts.GetByIdAsync(id, ct) is { } post ? Results.Ok(post) : Results.NotFound()).WithName("ApiPost");

// Plain IDistributedCache, as an existing app uses it: the Atom feed, rendered at most once a minute.
app.MapGet("/feed", async (IDistributedCache cache, Posts posts, CancellationToken ct) =>
{
    var feed = await cache.GetStringAsync("feed", ct);
    if (feed is null)
    {
        feed = Feed.Render(await posts.GetManyAsync(await posts.GetAllIdsAsync(ct), ct));
        await cache.SetStringAsync("feed", feed, new DistributedCacheEntryOptions { AbsoluteExpirationRelativeToNow = TimeSpan.FromMinutes(1) }, ct);
    }

    return Results.Content(feed, "application/atom+xml; charset=utf-8");
});

app.Run();

/// <summary>The post page's handler, with its [RcCached] settings.</summary>
internal static class ShowPost
{
    [RcCached(Expire = 600)]
    public static Task<IResult> Handler(int id, Posts posts, CancellationToken ct) => Uncached(id, posts, ct);

    /// <summary>The same page without [RcCached], for the load tests' baselines.</summary>
    public static async Task<IResult> Uncached(int id, Posts posts, CancellationToken ct) =>
        await posts.GetByIdAsync(id, ct) is { } post
            ? Results.Content(Pages.Post(post), "text/html; charset=utf-8")
            : Results.Content(Pages.NotFound(), "text/html; charset=utf-8", statusCode: 404);
}

/// <summary>How GET /post/{id} is cached (Blog:PostCaching): RcCached, the lesson; None and OutputCache, baselines of the load tests.</summary>
internal enum PostCaching
{
    RcCached,
    None,
    OutputCache,
}

public partial class Program;
