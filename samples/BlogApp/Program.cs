using BlogApp;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Caching.Distributed;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using RcAspNet;

var builder = WebApplication.CreateBuilder(args);

// RcAspNet from the Rc section: the embedded store by default; Rc__Store=Redis or Sharded moves it to Redis.
builder.Services.AddRcCache(builder.Configuration.GetSection("Rc"));
builder.Services.AddDbContext<BlogDb>(o => o.UseSqlite(builder.Configuration.GetConnectionString("Blog")));
builder.Services.AddScoped<Posts>();
builder.Services.AddAntiforgery();
builder.Services.AddHealthChecks().AddRcHealthCheck();

// Traces and metrics for OpenTelemetry: each request's span with the cache's store operations under it, and the
// cache's hits, misses and errors. They leave the process only when a collector is named, for example
// OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317; /stats reads the same metrics in process either way.
var telemetry = builder.Services.AddOpenTelemetry()
    .WithTracing(t => t.AddAspNetCoreInstrumentation().AddRcInstrumentation())
    .WithMetrics(m => m.AddAspNetCoreInstrumentation().AddRcInstrumentation());
if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
{
    telemetry.UseOtlpExporter();
}
builder.Services.AddSingleton<CacheStats>();
var postCaching = builder.Configuration.GetValue("Blog:PostCaching", PostCaching.RcCached);
if (postCaching is PostCaching.OutputCache or PostCaching.OutputCacheRedis)
{
    builder.Services.AddOutputCache();
}

if (postCaching == PostCaching.OutputCacheRedis)
{
    // The framework's output cache on Redis, a baseline of the load tests in benchmarks/http.
    builder.Services.AddStackExchangeRedisOutputCache(o => o.Configuration = builder.Configuration["Rc:Redis"]);
}

var app = builder.Build();
await using (var scope = app.Services.CreateAsyncScope())
{
    var db = scope.ServiceProvider.GetRequiredService<BlogDb>();
    await db.Database.EnsureCreatedAsync();
    await Seed.RunAsync(db, app.Configuration.GetValue<int>("Blog:SeedPosts"));
}

app.Services.GetRequiredService<CacheStats>();

// Browsers may keep a post page but must ask before showing it again: they send the page's ETag in If-None-Match,
// and an unchanged page costs a 304 answered from the cache. Set before UseRcCache so that hits carry it too.
app.Use((http, next) =>
{
    if (http.Request.Path.StartsWithSegments("/post", StringComparison.Ordinal))
    {
        http.Response.Headers.CacheControl = "no-cache";
    }

    return next(http);
});

// Output caching, for the benchmarks' comparison, in the same place as UseRcCache below: a hit of either runs the
// same middleware before it, and none after.
if (postCaching is PostCaching.OutputCache or PostCaching.OutputCacheRedis)
{
    app.UseOutputCache();
}

// Serves every [RcCached] endpoint: the attribute on a handler and this line are all it takes. Before
// UseAntiforgery, which a cached GET does not need: a hit is answered without it, a miss runs it on the way to the
// handler. (After UseAuthorization, when an app has one: a hit of an endpoint that requires authorization is served
// only once it has run.)
app.UseRcCache();

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

// GET /post/{id}: the page is cached by [RcCached] in the pages cache under "ShowPost {id}", tagged post:{id}.
var showPost = postCaching == PostCaching.RcCached
    ? app.MapGet("/post/{id:int}", ShowPost.Handler)
    : app.MapGet("/post/{id:int}", ShowPost.Uncached);
showPost.WithName("ShowPost");
if (postCaching is PostCaching.OutputCache or PostCaching.OutputCacheRedis)
{
    showPost.CacheOutput(); // The framework's own output cache, a baseline of the load tests in benchmarks/http.
}

// GET /post/{id}/edit: the visitor's own form, with the visitor's own antiforgery token; never cached.
app.MapGet("/post/{id:int}/edit", async (int id, Posts posts, IAntiforgery antiforgery, HttpContext http, CancellationToken ct) =>
    await posts.GetByIdAsync(id, ct) is { } post
        ? Results.Content(Pages.EditPost(post, antiforgery.GetAndStoreTokens(http)), "text/html; charset=utf-8")
        : Results.Content(Pages.NotFound(), "text/html; charset=utf-8", statusCode: 404));

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
    return Results.Redirect($"/post/{id}");
});

// Healthy when every cache server answers, Degraded when some do (their keys are misses), Unhealthy when none does.
app.MapHealthChecks("/health");

// What the caches did for this process so far, drawn from RcAspNet's own metrics; per visitor, never cached.
app.MapGet("/stats", (CacheStats stats, HttpContext http) =>
{
    http.Response.Headers.CacheControl = "no-store";
    return Results.Content(Pages.Stats(stats.Read()), "text/html; charset=utf-8");
});

// A small JSON API, cached by [RcCached] as well.
app.MapGet("/api/posts", [RcCached(ExpirationSeconds = 600, Cache = "pages", Tags = [Posts.ListTag])] async (Posts posts, CancellationToken ct) =>
    await posts.GetManyAsync(await posts.GetAllIdsAsync(ct), ct)).WithName("ApiPosts");
app.MapGet("/api/posts/{id:int}", [RcCached(ExpirationSeconds = 600, Cache = "pages", Tags = ["post:{id}"])] async (int id, Posts posts, CancellationToken ct) =>
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

/// <summary>
/// The post page's handler, with its [RcCached] settings. A failing database is left to throw: the pages cache has
/// fail-safe on (Rc:Caches:pages:FailSafe), so once a page has expired and the post's data is no longer in the data
/// cache, a page rendered in the last day is served instead of the error, marked <c>X-Cache: STALE</c>, and the
/// database is asked again every 30 seconds (ThrottleDuration); a page never rendered has no fallback and fails.
/// </summary>
internal static class ShowPost
{
    [RcCached(ExpirationSeconds = 600, Cache = "pages", Tags = ["post:{id}"])]
    public static Task<IResult> Handler(int id, Posts posts, CancellationToken ct) => Uncached(id, posts, ct);

    /// <summary>The same page without [RcCached], for the load tests' baselines.</summary>
    public static async Task<IResult> Uncached(int id, Posts posts, CancellationToken ct) =>
        await posts.GetByIdAsync(id, ct) is { } post
            ? Results.Content(Pages.Post(post), "text/html; charset=utf-8")
            : Results.Content(Pages.NotFound(), "text/html; charset=utf-8", statusCode: 404);
}

/// <summary>How GET /post/{id} is cached (Blog:PostCaching): RcCached, the lesson; the others are baselines of the load tests.</summary>
internal enum PostCaching
{
    RcCached,
    None,

    /// <summary>ASP.NET Core's output cache, in memory.</summary>
    OutputCache,

    /// <summary>ASP.NET Core's output cache on its Redis store (Rc:Redis).</summary>
    OutputCacheRedis,
}

public partial class Program;
