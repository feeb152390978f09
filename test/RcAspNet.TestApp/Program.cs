using System.Globalization;
using System.Runtime.CompilerServices;
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
        builder.Services.AddHttpContextAccessor();
        builder.Services.AddScoped<Expensive>();
        // A format filter for every action, added by type as an app may add it (the Formatted action has its own attribute too).
        builder.Services.AddControllers(static o => o.Filters.Add<Microsoft.AspNetCore.Mvc.Formatters.FormatFilter>());
        builder.Services.AddRazorPages();
        builder.Services.AddAuthentication("Test").AddScheme<AuthenticationSchemeOptions, TestAuthentication>("Test", null);
        builder.Services.AddAuthorization();
        builder.Services.AddSession();
        builder.Services.AddResponseCompression();

        var app = builder.Build();
        app.UseResponseCompression();
        app.UseAuthentication();
        app.UseAuthorization();
        // Only where a test uses it: a session commits (a Redis refresh) at the end of every request it serves.
        app.UseWhen(static http => http.Request.Path.StartsWithSegments("/session-visit"), static session => session.UseSession());
        app.UseRequestLocalization(o => o.AddSupportedCultures("en-US", "fr-FR").AddSupportedUICultures("en-US", "fr-FR").SetDefaultCulture("en-US"));
        // A middleware before the cache that stamps every response of /headers: the request id is each request's own, the
        // frame option one that the handlers replace or remove, and Vary one they add to.
        app.Use(static (http, next) =>
        {
            if (http.Request.Path.StartsWithSegments("/headers"))
            {
                http.Response.Headers["X-Request-Id"] = Guid.NewGuid().ToString("N");
                http.Response.Headers["X-Frame-Options"] = "DENY";
                http.Response.Headers.Vary = "Accept-Encoding";
            }

            return next(http);
        });
        app.UseRcCache();

        // [RcCached] alone: the attribute on the handler and UseRcCache() above are all it takes.
        var cached = app;

        cached.MapGet("/hello/{name}", [RcCached] (string name, Counters counters) => $"Hello {name} #{counters.Next("hello")}");

        cached.MapGet("/post/{id:int}", [RcCached(ExpirationSeconds = 600)] (int id, Counters counters) => counters.Next("post") is var n && id >= 1000
            ? Results.NotFound()
            : Results.Content($"<h1>Post {id}</h1><p>{n}</p>", "text/html; charset=utf-8"))
            .WithName("ShowPost");

        cached.MapGet("/front/{id:int}", [RcCached] (int id, string? q, Expensive expensive, Counters counters) => $"front {id} {q} #{counters.Next("front")}");

        // Routes without the attribute, cached by .CacheResult() on their group.
        var group = app.MapGroup("").CacheResult();

        group.MapGet("/items/{id:int}", async Task<Item> (int id, Counters counters) =>
        {
            await Task.Yield();
            return new Item(id, $"item {id}", counters.Next("items"));
        }).WithName("GetItem");

        group.MapGet("/typed/{id:int}", Results<Ok<Item>, NotFound> (int id, Counters counters) =>
            counters.Next("typed") is var n && id < 0 ? TypedResults.NotFound() : TypedResults.Ok(new Item(id, "typed", n)));

        cached.MapGet("/search", [RcCached(KeyPrefix = "Search")] (string? q, int page, int[]? tag, [FromHeader(Name = "X-Tenant")] string? tenant, Counters counters) =>
            $"{q}|{page}|{string.Join(",", tag ?? [])}|{tenant}|{counters.Next("search")}");

        cached.MapMethods("/page/{name}", ["GET", "HEAD"], [RcCached] (string name, Counters counters) => $"Page {name} #{counters.Next("page")}");

        group.MapPost("/hello/{name}", (string name, Counters counters) => $"Posted {name} #{counters.Next("post-hello")}");

        cached.MapGet("/me", [RcCached(UserScope = RcUserScope.PerUser)] (ClaimsPrincipal user, Counters counters) =>
            $"{user.Identity?.Name ?? "anonymous"} #{counters.Next("me")}");

        // A file result, which declares its length and writes no body for HEAD.
        cached.MapMethods("/file/head", ["GET", "HEAD"], [RcCached] (Counters counters) =>
        {
            counters.Next("file.head");
            return Results.Bytes(new byte[1000], "application/octet-stream");
        });
        cached.MapGet("/news", [RcCached] (Counters counters) => $"news #{counters.Next("news")}");

        cached.MapGet("/file", [RcCached] (Counters counters) =>
            Results.File(System.Text.Encoding.ASCII.GetBytes($"file #{counters.Next("file")}"), "text/plain", enableRangeProcessing: true));

        cached.MapGet("/public", [RcCached(UserScope = RcUserScope.Shared)] (Counters counters) => $"public #{counters.Next("public")}");

        cached.MapGet("/slow/{id:int}", [RcCached] async (int id, Counters counters) =>
        {
            var n = counters.Next("slow");
            await Task.Delay(300);
            return $"slow {id} #{n}";
        });

        cached.MapGet("/left", [RcCached] async (Counters counters, CancellationToken aborted) =>
        {
            // The first visitor leaves before its page is ready; its handler ends with its request.
            var n = counters.Next("left");
            if (n == 1)
            {
                await Task.Delay(Timeout.Infinite, aborted);
            }

            return $"left #{n}";
        });

        cached.MapGet("/left/throwing", [RcCached] async (Counters counters, CancellationToken aborted) =>
        {
            // The same, with a client that reports its cancellation as an error of its own (SqlClient's "Operation
            // cancelled by user", a SqlException).
            var n = counters.Next("left/throwing");
            if (n == 1)
            {
                try
                {
                    await Task.Delay(Timeout.Infinite, aborted);
                }
                catch (OperationCanceledException)
                {
                    throw new InvalidOperationException("Operation cancelled by user.");
                }
            }

            return $"left #{n}";
        });

        cached.MapGet("/gives-up", [RcCached] string (Counters counters) =>
        {
            // A handler that gives up on its own (an HTTP client's timeout, say), its request still there.
            counters.Next("gives-up");
            throw new OperationCanceledException("The handler gave up.");
        });

        cached.MapGet("/maybe/{id:int}", [RcCached] (int id, Counters counters) =>
        {
            counters.Next("maybe");
            return id > 0 ? new Item(id, "found", 0) : null;
        });

        // Slow answers that are not stored, for concurrent misses: each visitor's own (a cookie, private), or an error.
        cached.MapGet("/slow-cookie", [RcCached(UserScope = RcUserScope.Shared)] async (HttpResponse response, Counters counters) =>
        {
            var n = counters.Next("slow-cookie");
            response.Cookies.Append("session", $"s{n}");
            await Task.Delay(300);
            return $"cookie #{n}";
        });

        cached.MapGet("/slow-private", [RcCached(UserScope = RcUserScope.Shared)] async (HttpResponse response, Counters counters) =>
        {
            var n = counters.Next("slow-private");
            response.Headers.CacheControl = "private";
            await Task.Delay(300);
            return $"private #{n}";
        });

        cached.MapGet("/slow-error", [RcCached] async (Counters counters) =>
        {
            counters.Next("slow-error");
            await Task.Delay(300);
            return Results.StatusCode(503);
        });

        // The first write to a session establishes it: the session's OnStarting callback sets its cookie as the response starts.
        cached.MapGet("/session-visit", [RcCached(UserScope = RcUserScope.Shared)] (HttpContext http, Counters counters) =>
        {
            http.Session.SetString("seen", "yes");
            return $"visit #{counters.Next("session-visit")}";
        });

        // The culture request localization chose (?culture=fr-FR), for a handler that renders on a context of its own.
        cached.MapGet("/greeting", [RcCached(EagerRefreshThreshold = 0.5)] (string culture, Counters counters) =>
            $"{System.Globalization.CultureInfo.CurrentCulture.Name} {System.Globalization.CultureInfo.CurrentUICulture.Name} #{counters.Next("greeting")}");

        cached.MapGet("/cookie", [RcCached(UserScope = RcUserScope.Shared)] (HttpResponse response, Counters counters) =>
        {
            response.Cookies.Append("session", "s");
            return $"cookie #{counters.Next("cookie")}";
        });

        // A response that varies on what no request header names.
        cached.MapGet("/vary-star", [RcCached(UserScope = RcUserScope.Shared)] (HttpResponse response, Counters counters) =>
        {
            response.Headers.Vary = "Accept-Encoding, *";
            return $"vary #{counters.Next("vary-star")}";
        });

        // A response made private as it starts, as a middleware's OnStarting callback can.
        cached.MapGet("/private-on-start", [RcCached(UserScope = RcUserScope.Shared)] (HttpResponse response, Counters counters) =>
        {
            response.OnStarting(() =>
            {
                response.Headers.CacheControl = "private";
                return Task.CompletedTask;
            });
            return $"private #{counters.Next("private-on-start")}";
        });

        // Handlers that set headers of their own, rendered in the request and on a context of their own.
        cached.MapGet("/headers/{id:int}", [RcCached(UserScope = RcUserScope.Shared)] (int id, HttpResponse response, Counters counters) => WithHeaders("headers", id, response, counters));
        cached.MapGet("/headers/detached/{id:int}", [RcCached(UserScope = RcUserScope.Shared, EagerRefreshThreshold = 0.5)] (int id, HttpResponse response, Counters counters) =>
            WithHeaders("headers-detached", id, response, counters));
        cached.MapGet("/headers/framed/{id:int}", [RcCached(UserScope = RcUserScope.Shared)] (int id, HttpResponse response, Counters counters) =>
        {
            response.Headers.Remove("X-Frame-Options");
            return $"framed {id} #{counters.Next("headers-framed")}";
        });
        cached.MapGet("/headers/resilient/{id:int}", [RcCached(UserScope = RcUserScope.Shared, ExpirationSeconds = 10, FailSafeMaxDurationSeconds = 3600)] (int id, HttpResponse response, Counters counters) =>
            counters.SourceDown ? Results.Problem(statusCode: 503) : Results.Text(WithHeaders("headers-resilient", id, response, counters)));

        cached.MapGet("/headers/throwing/{id:int}", [RcCached(UserScope = RcUserScope.Shared, ExpirationSeconds = 10, FailSafeMaxDurationSeconds = 3600)] async (int id, HttpResponse response, Counters counters) =>
        {
            if (counters.SourceDown)
            {
                response.Headers.ContentDisposition = "attachment; filename=error.txt";
                if (counters.Gate is { } gate)
                {
                    counters.Entered.TrySetResult();
                    await gate.Task;
                }

                throw new InvalidOperationException("The source is down.");
            }

            return WithHeaders("headers-throwing", id, response, counters);
        });

        // A handler that says when its data last changed.
        cached.MapGet("/dated/{id:int}", [RcCached(UserScope = RcUserScope.Shared)] (int id, HttpResponse response, Counters counters) =>
        {
            response.Headers.LastModified = "Wed, 01 Jan 2025 00:00:00 GMT";
            return $"dated {id} #{counters.Next("dated")}";
        });

        // A file whose handler honours the request's conditions: a miss that revalidates still renders the entry whole.
        cached.MapGet("/file/{id:int}", [RcCached] (int id, Counters counters) => Results.File(
            System.Text.Encoding.UTF8.GetBytes($"file {id} #{counters.Next("file")}"), "text/plain", lastModified: new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero)));

        // A result that commits its bytes to the response's writer and never flushes them, as a server completes them;
        // in its request, and away from it (eager refresh renders every miss away from its request).
        cached.MapGet("/writer/{id:int}", [RcCached] (int id, Counters counters) => new WriterResult($"writer {id} #{counters.Next("writer")}"));
        cached.MapGet("/writer/detached/{id:int}", [RcCached(EagerRefreshThreshold = 0.5)] (int id, Counters counters) => new WriterResult($"writer {id} #{counters.Next("writer")}"));

        // A handler that sets its own entity tag: the cache keeps it instead of computing one.
        cached.MapGet("/own-etag/{id:int}", [RcCached(UserScope = RcUserScope.Shared)] (int id, HttpResponse response, Counters counters) =>
        {
            response.Headers.ETag = $"\"own-{id}\"";
            return $"own {id} #{counters.Next("own-etag")}";
        });

        app.MapGet("/configured/{id:int}", (int id, Counters counters) => $"configured {id} #{counters.Next("configured")}")
            .CacheResult(static s => s.KeyPrefix = "Configured");

        cached.MapGet("/problem", [RcCached] (Counters counters) =>
        {
            counters.Next("problem");
            return Results.Problem("broken");
        });

        cached.MapGet("/short", [RcCached(ExpirationSeconds = 60)] (Counters counters) => $"short #{counters.Next("short")}");

        cached.MapGet("/templates/{id:int}", [RcCached(Cache = "templates")] (int id, Counters counters) => $"template {id} #{counters.Next("templates")}");

        // Tags: every entry of /tagged carries "items", and "item:{id}" with its own id.
        cached.MapGet("/tagged/{id:int}", [RcCached(Tags = ["items", "item:{id}"])] (int id, Counters counters) => $"tagged {id} #{counters.Next("tagged")}");

        // A tag made of a string argument, which can make a valid key and yet no valid tag.
        cached.MapGet("/labelled/{slug}", [RcCached(KeyPrefix = "L", Tags = ["labelled-page:{slug}"])] (string slug, Counters counters) => $"labelled {slug.Length} #{counters.Next("labelled")}");

        // A handler that answers a client over its limit 429 (as a rate limiter after UseRcCache() would), once its gate opens.
        cached.MapGet("/limited", [RcCached(UserScope = RcUserScope.Shared)] async (HttpRequest request, Counters counters) =>
        {
            var n = counters.Next("limited");
            if (request.Headers["X-Tenant"] == "over" && counters.Gate is { } gate)
            {
                counters.Entered.TrySetResult();
                await gate.Task;
                return Results.StatusCode(StatusCodes.Status429TooManyRequests);
            }

            return Results.Text($"limited #{n}");
        });

        // A handler whose own cache call fails with RcCacheException (as one with FailureMode=Throw does).
        cached.MapGet("/own-cache-failure", [RcCached] async Task<string> (Counters counters) =>
        {
            counters.Next("own-cache-failure");
            if (counters.Gate is { } gate)
            {
                counters.Entered.TrySetResult();
                await gate.Task;
            }

            throw new RcCacheException("The handler's own cache call failed.");
        });

        // A handler that stops between reading its data and returning, for the tag race: the test invalidates meanwhile.
        cached.MapGet("/gated/{id:int}", [RcCached(Tags = ["gated"])] async (int id, Counters counters) =>
        {
            var data = counters.Data;
            if (counters.Gate is { } gate)
            {
                counters.Entered.TrySetResult();
                await gate.Task;
            }

            return $"gated {id} v{data}";
        });

        cached.MapGet("/form", [RcCached] ([FromForm] string? name, Counters counters) => $"form {name} #{counters.Next("form")}").DisableAntiforgery();

        cached.MapGet("/status", [RcCached(UserScope = RcUserScope.Shared)] (Counters counters) => $"status #{counters.Next("status")}");

        // Fail-safe: while its source is down, the handler throws (or answers 503), and the last page stands in for it.
        cached.MapGet("/resilient/{id:int}", [RcCached(ExpirationSeconds = 10, FailSafeMaxDurationSeconds = 3600, FailSafeThrottleDurationSeconds = 30)] (int id, Counters counters) =>
        {
            counters.Next("resilient.attempts");
            return counters.SourceDown ? throw new InvalidOperationException("the database is down") : $"resilient {id} v{counters.Next("resilient")}";
        });
        cached.MapGet("/resilient-stream/{id:int}", [RcCached(ExpirationSeconds = 10, FailSafeMaxDurationSeconds = 3600)] (int id, Counters counters) => Results.Stream(
            async body =>
            {
                if (!counters.SourceDown)
                {
                    await body.WriteAsync("resilient-stream"u8.ToArray());
                    return;
                }

                // Past the 8 MiB an entry may hold, then the source fails.
                var chunk = new byte[64 * 1024];
                for (var i = 0; i < (9 * 16) + 1; i++)
                {
                    await body.WriteAsync(chunk);
                }

                throw new InvalidOperationException("the database went down mid-page");
            },
            "text/plain"));
        cached.MapGet("/resilient-503/{id:int}", [RcCached(ExpirationSeconds = 10, FailSafeMaxDurationSeconds = 3600)] (int id, Counters counters) =>
            counters.SourceDown ? Results.Problem(statusCode: 503) : Results.Text($"resilient-503 {id} v{counters.Next("resilient-503")}"));

        // Soft timeout and eager refresh: the handler may finish after its request, on a context and scope of its own.
        cached.MapGet("/soft/{id:int}", [RcCached(UserScope = RcUserScope.Shared, ExpirationSeconds = 10, FailSafeMaxDurationSeconds = 3600, FactorySoftTimeoutMilliseconds = 100)] async (int id, Expensive scoped, HttpResponse response, IHttpContextAccessor accessor, Counters counters) =>
        {
            if (counters.Gate is { } gate)
            {
                counters.Entered.TrySetResult();
                await gate.Task;
            }

            // What it reads through IHttpContextAccessor is its own context, and what it registers for disposal is disposed.
            if (accessor.HttpContext?.Response == response)
            {
                counters.Next("soft-own-context");
            }

            response.RegisterForDispose(new Disposed(counters, "soft-disposed"));
            response.Headers["X-Rendered-By"] = "soft";
            return $"soft {id} v{counters.Next("soft")}";
        });
        cached.MapGet("/eager/{id:int}", [RcCached(ExpirationSeconds = 100, EagerRefreshThreshold = 0.5)] async (int id, Expensive scoped, Counters counters) =>
        {
            if (counters.Gate is { } gate)
            {
                counters.Entered.TrySetResult();
                await gate.Task;
            }

            return $"eager {id} v{counters.Next("eager")}";
        });

        // A file result, which honours If-None-Match itself, refreshed eagerly: one entity tag for every version.
        cached.MapGet("/eager/file/{id:int}", [RcCached(ExpirationSeconds = 100, EagerRefreshThreshold = 0.5)] (int id, Counters counters) =>
            Results.Bytes(System.Text.Encoding.UTF8.GetBytes($"eager-file {id} v{counters.Next("eager.file")}"), "text/plain", entityTag: new Microsoft.Net.Http.Headers.EntityTagHeaderValue("\"same\"")));

        // The same, for GET and HEAD.
        cached.MapMethods("/eager/head/{id:int}", ["GET", "HEAD"], [RcCached(ExpirationSeconds = 100, EagerRefreshThreshold = 0.5)] async (int id, Counters counters) =>
        {
            if (counters.Gate is { } gate)
            {
                counters.Entered.TrySetResult();
                await gate.Task;
            }

            return $"eager-head {id} v{counters.Next("eager.head")}";
        });

        // Each supported kind of key argument: the handler answers with the key of the value it was bound to, which
        // the test looks up in the cache, proving that the key read from the request is the key of the bound value.
        MapKind<string>(app, "string");
        MapKind<int>(app, "int");
        MapKind<long>(app, "long");
        MapKind<short>(app, "short");
        MapKind<byte>(app, "byte");
        MapKind<uint>(app, "uint");
        MapKind<bool>(app, "bool");
        MapKind<char>(app, "char");
        MapKind<double>(app, "double");
        MapKind<float>(app, "float");
        MapKind<decimal>(app, "decimal");
        MapKind<Half>(app, "half");
        MapKind<Int128>(app, "int128");
        MapKind<Guid>(app, "guid");
        MapKind<DateTime>(app, "datetime");
        MapKind<DateTimeOffset>(app, "datetimeoffset");
        MapKind<DateOnly>(app, "dateonly");
        MapKind<TimeOnly>(app, "timeonly");
        MapKind<TimeSpan>(app, "timespan");
        MapKind<Access>(app, "enum");
        MapKind<int?>(app, "nullable");
        MapKind<int[]>(app, "array");
        MapKind<string[]>(app, "strings");

        // A body written in 1 KiB chunks; with a gate set, the handler flushes and waits at its middle (or at holdAt KiB).
        app.MapGet("/stream/{kb:int}", [RcCached] (int kb, int? holdAt, Counters counters) =>
        {
            counters.Next("stream");
            return Results.Stream(
                async body =>
                {
                    var chunk = new byte[1024];
                    Array.Fill(chunk, (byte)'s');
                    for (var i = 0; i < kb; i++)
                    {
                        if (i == (holdAt ?? kb / 2) && counters.Gate is { } gate)
                        {
                            await body.FlushAsync();
                            counters.Entered.TrySetResult();
                            await gate.Task;
                        }

                        await body.WriteAsync(chunk);
                    }

                    counters.Next("stream.done");
                },
                "application/octet-stream");
        });
        // A body written synchronously in 1 KiB chunks (after allowing it, with allow=true), cached, cached with a render away
        // from its request (a soft timeout), and not cached.
        app.MapGet("/sync/{kb:int}", [RcCached(UserScope = RcUserScope.Shared)] (int kb, bool? allow, HttpContext http, Counters counters) => WriteSynchronously(kb, allow, http, counters));
        app.MapGet("/sync/detached/{kb:int}", [RcCached(UserScope = RcUserScope.Shared, FailSafeMaxDurationSeconds = 3600, FactorySoftTimeoutMilliseconds = 60_000)] (int kb, bool? allow, HttpContext http, Counters counters) =>
            WriteSynchronously(kb, allow, http, counters));
        app.MapGet("/sync/uncached/{kb:int}", (int kb, bool? allow, HttpContext http, Counters counters) => WriteSynchronously(kb, allow, http, counters));
        // A GET whose handler reads its JSON body, which no key holds: a request with a body bypasses the cache.
        app.MapGet("/body/search", [RcCached(UserScope = RcUserScope.Shared)] ([FromBody] SearchQuery? query, Counters counters) => $"search {query?.Text} #{counters.Next("body.search")}");
        app.MapGet("/price", [RcCached] (decimal v) => v.ToString(CultureInfo.InvariantCulture));
        app.MapGet("/price/defaulted", [RcCached] (decimal v = 1.50m) => v.ToString(CultureInfo.InvariantCulture));
        app.MapGet("/kind/nullarray", (int[]? v) => RcKey.For("kind.nullarray", v)).CacheResult(static s => s.KeyPrefix = "kind.nullarray");
        app.MapGet("/kind/header", ([FromHeader(Name = "X-Value")] string v) => RcKey.For("kind.header", v)).CacheResult(static s => s.KeyPrefix = "kind.header");
        app.MapGet("/kind/default", (int v = 7) => RcKey.For("kind.default", v)).CacheResult(static s => s.KeyPrefix = "kind.default");
        app.MapGet("/kind/route/{v:guid}", (Guid v) => RcKey.For("kind.route", v)).CacheResult(static s => s.KeyPrefix = "kind.route");

        // The request-scoped batch: what a request queues is its own, and what it leaves queued faults when it ends.
        app.MapGet("/batch/{count:int}", async (int count, bool? flush, IRcBatch batch, Counters counters) =>
        {
            // A batch left over from an earlier request would still hold its lookups: a flush would resolve them too.
            var batches = counters.Next("batches");
            var promises = Enumerable.Range(0, count).Select(i => batch.Load($"batch:{batches}:{i}", _ => ValueTask.FromResult(i * 10))).ToArray();
            if (flush == false)
            {
                counters.Abandoned.AddRange(promises.Select(static p => (Action)(() => _ = p.Value)));
                return Results.Json(new { batch = RuntimeHelpers.GetHashCode(batch), values = Array.Empty<int>() });
            }

            await batch.FlushAsync();
            return Results.Json(new { batch = RuntimeHelpers.GetHashCode(batch), values = promises.Select(static p => p.Value).ToArray() });
        });

        app.MapControllers();

        // One action on two conventional routes, whose defaults give its argument: MVC binds it from the route values.
        app.MapControllerRoute("conventional-fr", "fr/conventional", new { controller = "Conventional", action = "Index", lang = "fr" });
        app.MapControllerRoute("conventional-en", "en/conventional", new { controller = "Conventional", action = "Index", lang = "en" });
        app.MapRazorPages();
        app.Run();
    }

    private static string WithHeaders(string name, int id, HttpResponse response, Counters counters)
    {
        var n = counters.Next(name);
        response.Headers.ContentLanguage = "fr";
        response.Headers.Append("Vary", "Accept-Language");
        response.Headers.CacheControl = "public, max-age=60";
        response.Headers.Append("Link", "</a.css>; rel=preload");
        response.Headers.Append("Link", "</b.js>; rel=preload");
        response.Headers["X-Frame-Options"] = "SAMEORIGIN";
        response.Headers["X-Rendered"] = n.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return $"{name} {id} #{n}";
    }

    private static IResult WriteSynchronously(int kb, bool? allow, HttpContext http, Counters counters)
    {
        counters.Next("sync");
        if (allow == true)
        {
            http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpBodyControlFeature>()!.AllowSynchronousIO = true;
        }

        return Results.Stream(
            body =>
            {
                var chunk = new byte[1024];
                Array.Fill(chunk, (byte)'y');
                for (var i = 0; i < kb; i++)
                {
                    body.Write(chunk);
                }

                body.Flush();
                return Task.CompletedTask;
            },
            "application/octet-stream");
    }

    private static void MapKind<T>(WebApplication app, string name) =>
        app.MapGet($"/kind/{name}", (T v) => RcKey.For($"kind.{name}", v)).CacheResult(s => s.KeyPrefix = $"kind.{name}");
}

[Flags]
public enum Access
{
    None = 0,
    Read = 1,
    Write = 2,
}

public sealed record Item(int Id, string Name, int Version);

/// <summary>A scoped service that counts how often it is built: a hit answered before binding builds none.</summary>
/// <summary>Counts its disposal under <paramref name="name"/>.</summary>
public sealed class Disposed(Counters counters, string name) : IDisposable
{
    public void Dispose() => counters.Next(name);
}

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

    /// <summary>Gets or sets whether the resilient handlers' source is down.</summary>
    public bool SourceDown { get; set; }

    /// <summary>Gets or sets what the gated handler reads, as it would read a database.</summary>
    public int Data { get; set; } = 1;

    /// <summary>Gets or sets what the gated handler waits for after it has read its data; null to not wait.</summary>
    public TaskCompletionSource? Gate { get; set; }

    /// <summary>Gets what the gated handler completes once it has read its data and waits.</summary>
    public TaskCompletionSource Entered { get; set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

[ApiController]
[Route("mvc")]
public sealed class MvcItemsController(Counters counters) : ControllerBase
{
    /// <summary>An action whose entry is refreshed in the background, on a context of its own.</summary>
    [HttpGet("fresh/{id:int}")]
    [RcCached(ExpirationSeconds = 100, EagerRefreshThreshold = 0.5)]
    public async Task<ActionResult<Item>> Fresh(int id)
    {
        if (counters.Gate is { } gate)
        {
            counters.Entered.TrySetResult();
            await gate.Task;
        }

        return new Item(id, "fresh", counters.Next("mvc.fresh"));
    }

    [HttpGet("items/{id:int}")]
    [RcCached(ExpirationSeconds = 600)]
    public ActionResult<Item> Get(int id) => counters.Next("mvc") is var n && id < 0 ? NotFound() : new Item(id, "mvc", n);

    [HttpGet("page/{id:int}")]
    [RcCached]
    public IActionResult Page(int id) => Content($"<p>mvc page {id} #{counters.Next("mvc-page")}</p>", "text/html");

    [HttpPost("items/{id:int}")]
    public IActionResult Post(int id) => Ok(counters.Next("mvc-post") + id);

    /// <summary>An action whose representation the format filter added to every action picks by the format in its route.</summary>
    [HttpGet("globally/{id:int}.{format?}")]
    [RcCached]
    public Item Globally(int id) => new(id, "globally", counters.Next("mvc.globally"));

    /// <summary>An action whose representation [FormatFilter] picks by the format in its route.</summary>
    [HttpGet("formatted/{id:int}.{format?}")]
    [FormatFilter]
    [RcCached]
    public Item Formatted(int id) => new(id, "formatted", counters.Next("mvc.formatted"));

    /// <summary>An action whose route gives the format [FormatFilter] picks by a default.</summary>
    [HttpGet("defaulted/{id:int}/{format=json}")]
    [FormatFilter]
    [RcCached]
    public Item Defaulted(int id) => new(id, "defaulted", counters.Next("mvc.defaulted"));
}

/// <summary>A conventionally routed controller (see the routes in <see cref="Program"/>).</summary>
public sealed class ConventionalController(Counters counters) : Controller
{
    [RcCached]
    public string Index(string? lang) => $"{lang} #{counters.Next("conventional")}";
}

/// <summary>Each kind of key argument through MVC model binding: the action answers with the key of what it was bound to.</summary>
[Route("mvc/kind")]
[RcCached]
public sealed class MvcKindsController : Controller
{
    [HttpGet("int")]
    public string Int(int v) => RcKey.For("MvcKinds.Int", v);

    [HttpGet("defaulted")]
    public string Defaulted(int v = 5) => RcKey.For("MvcKinds.Defaulted", v);

    [HttpGet("decimal")]
    public string Decimal(decimal v) => RcKey.For("MvcKinds.Decimal", v);

    [HttpGet("price")]
    public string Price(decimal v) => v.ToString(CultureInfo.InvariantCulture);

    [HttpGet("datetime")]
    public string DateTime(DateTime v) => RcKey.For("MvcKinds.DateTime", v);

    [HttpGet("guid/{v}")]
    public string Guid(Guid v) => RcKey.For("MvcKinds.Guid", v);

    [HttpGet("enum")]
    public string Enum(Access v) => RcKey.For("MvcKinds.Enum", v);

    [HttpGet("bool")]
    public string Bool(bool v) => RcKey.For("MvcKinds.Bool", v);

    [HttpGet("array")]
    public string Array([FromQuery] int[] v) => RcKey.For("MvcKinds.Array", v);

    [HttpGet("header")]
    public string Header([FromHeader(Name = "X-Value")] string? v) => RcKey.For("MvcKinds.Header", v);

    [HttpGet("header-list")]
    public string HeaderList([FromHeader(Name = "X-Tenant")] int[] v) => RcKey.For("MvcKinds.HeaderList", v);
}

/// <summary>
/// Authenticates a request carrying X-Test-User as that user; <see cref="Nameless"/> as a signed-in user with neither a
/// NameIdentifier nor a Name claim (as an external sign-in without claim mapping may give).
/// </summary>
public sealed class TestAuthentication(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string Nameless = "(nameless)";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (!Request.Headers.TryGetValue("X-Test-User", out var user))
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        var identity = user == Nameless
            ? new ClaimsIdentity([new Claim("email", "someone@example.com")], "Test")
            : new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, user.ToString()), new Claim(ClaimTypes.Name, user.ToString())], "Test");
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), "Test")));
    }
}
