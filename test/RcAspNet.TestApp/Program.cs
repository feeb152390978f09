using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace RcAspNet.TestApp;

/// <summary>An app whose endpoints exercise [RcCached]; the tests host it with WebApplicationFactory.</summary>
public static class Program
{
    public static void Main(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.Services.AddRcCache(builder.Configuration.GetSection("Rc"));
        builder.Services.AddSingleton<Counters>();
        builder.Services.AddScoped<Expensive>();
        builder.Services.AddControllers();
        builder.Services.AddAuthentication("Test").AddScheme<AuthenticationSchemeOptions, TestAuthentication>("Test", null);
        builder.Services.AddAuthorization();

        var app = builder.Build();
        app.UseAuthentication();
        app.UseAuthorization();

        var cached = app.MapGroup("").CacheResult();

        cached.MapGet("/hello/{name}", [RcCached] (string name, Counters counters) => $"Hello {name} #{counters.Next("hello")}");

        cached.MapGet("/post/{id:int}", [RcCached(Expire = 600)] (int id, Counters counters) => counters.Next("post") is var n && id >= 1000
            ? Results.NotFound()
            : Results.Content($"<h1>Post {id}</h1><p>{n}</p>", "text/html; charset=utf-8"))
            .WithName("ShowPost");

        cached.MapGet("/front/{id:int}", [RcCached] (int id, string? q, Expensive expensive, Counters counters) => $"front {id} {q} #{counters.Next("front")}");

        cached.MapGet("/items/{id:int}", async Task<Item> (int id, Counters counters) =>
        {
            await Task.Yield();
            return new Item(id, $"item {id}", counters.Next("items"));
        }).WithName("GetItem");

        cached.MapGet("/typed/{id:int}", Results<Ok<Item>, NotFound> (int id, Counters counters) =>
            counters.Next("typed") is var n && id < 0 ? TypedResults.NotFound() : TypedResults.Ok(new Item(id, "typed", n)));

        cached.MapGet("/search", [RcCached(KeyPrefix = "Search")] (string? q, int page, int[]? tag, [FromHeader(Name = "X-Tenant")] string? tenant, Counters counters) =>
            $"{q}|{page}|{string.Join(",", tag ?? [])}|{tenant}|{counters.Next("search")}");

        cached.MapMethods("/page/{name}", ["GET", "HEAD"], [RcCached] (string name, Counters counters) => $"Page {name} #{counters.Next("page")}");

        cached.MapPost("/hello/{name}", (string name, Counters counters) => $"Posted {name} #{counters.Next("post-hello")}");

        cached.MapGet("/me", [RcCached(VaryByUser = true)] (ClaimsPrincipal user, Counters counters) =>
            $"{user.Identity?.Name ?? "anonymous"} #{counters.Next("me")}");

        cached.MapGet("/news", [RcCached] (Counters counters) => $"news #{counters.Next("news")}");

        cached.MapGet("/public", [RcCached(Public = true)] (Counters counters) => $"public #{counters.Next("public")}");

        cached.MapGet("/slow/{id:int}", [RcCached] async (int id, Counters counters) =>
        {
            var n = counters.Next("slow");
            await Task.Delay(300);
            return $"slow {id} #{n}";
        });

        cached.MapGet("/maybe/{id:int}", [RcCached] (int id, Counters counters) =>
        {
            counters.Next("maybe");
            return id > 0 ? new Item(id, "found", 0) : null;
        });

        cached.MapGet("/cookie", [RcCached(Public = true)] (HttpResponse response, Counters counters) =>
        {
            response.Cookies.Append("session", "s");
            return $"cookie #{counters.Next("cookie")}";
        });

        app.MapGet("/configured/{id:int}", (int id, Counters counters) => $"configured {id} #{counters.Next("configured")}")
            .CacheResult(static s => s.KeyPrefix = "Configured");

        cached.MapGet("/problem", [RcCached] (Counters counters) =>
        {
            counters.Next("problem");
            return Results.Problem("broken");
        });

        cached.MapGet("/short", [RcCached(Expire = 1)] (Counters counters) => $"short #{counters.Next("short")}");

        cached.MapGet("/templates/{id:int}", [RcCached(Cache = "templates")] (int id, Counters counters) => $"template {id} #{counters.Next("templates")}");

        // The request-scoped batch: what a request queues is its own, and what it leaves queued faults when it ends.
        app.MapGet("/batch/{count:int}", async (int count, bool? flush, IRcBatch batch, Counters counters) =>
        {
            var before = batch.PendingCount;
            var promises = Enumerable.Range(0, count).Select(i => batch.Load($"batch:{i}", _ => ValueTask.FromResult(i * 10))).ToArray();
            var queued = batch.PendingCount;
            if (flush == false)
            {
                counters.Abandoned.AddRange(promises.Select(static p => (Action)(() => _ = p.Value)));
                return Results.Json(new { before, queued, values = Array.Empty<int>() });
            }

            await batch.FlushAsync();
            return Results.Json(new { before, queued, values = promises.Select(static p => p.Value).ToArray() });
        });

        app.MapControllers().CacheResult();
        app.Run();
    }
}

public sealed record Item(int Id, string Name, int Version);

/// <summary>A scoped service that counts how often it is built: a hit answered before binding builds none.</summary>
public sealed class Expensive
{
    public Expensive(Counters counters) => counters.Next("expensive");
}

/// <summary>Counts handler runs, so tests can tell a hit from a miss.</summary>
public sealed class Counters
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _counts = new();

    public int Next(string name) => _counts.AddOrUpdate(name, 1, static (_, n) => n + 1);

    public int Get(string name) => _counts.GetValueOrDefault(name);

    /// <summary>Reads of batched lookups a request left queued.</summary>
    public List<Action> Abandoned { get; } = [];
}

[ApiController]
[Route("mvc")]
public sealed class MvcItemsController(Counters counters) : ControllerBase
{
    [HttpGet("items/{id:int}")]
    [RcCached(Expire = 600)]
    public ActionResult<Item> Get(int id) => counters.Next("mvc") is var n && id < 0 ? NotFound() : new Item(id, "mvc", n);

    [HttpGet("page/{id:int}")]
    [RcCached]
    public IActionResult Page(int id) => Content($"<p>mvc page {id} #{counters.Next("mvc-page")}</p>", "text/html");

    [HttpPost("items/{id:int}")]
    public IActionResult Post(int id) => Ok(counters.Next("mvc-post") + id);
}

/// <summary>Authenticates a request carrying X-Test-User as that user.</summary>
public sealed class TestAuthentication(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (!Request.Headers.TryGetValue("X-Test-User", out var user))
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        var identity = new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, user.ToString()), new Claim(ClaimTypes.Name, user.ToString())], "Test");
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), "Test")));
    }
}
