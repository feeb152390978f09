using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Diagnostics;

/// <summary>
/// Each of RcAspNet's log events, provoked for real: its fixed EventId and EventName and its level, and no record of
/// RcAspNet at Information or above carries the key.
/// </summary>
public sealed class LogEventTests
{
    /// <summary>The key (or the key argument of an endpoint) each test uses; it must never reach a log at Information or above.</summary>
    private const string Key = "customer-4711-secret";

    private readonly LogRecorder _logs = new();

    private ServiceProvider Services(Action<RcOptions> configure) => TestServices.Build(
        o =>
        {
            o.Namespace = SharedRedis.UniqueNamespace();
            configure(o);
        },
        s => s.AddLogging(b => b.AddProvider(_logs).SetMinimumLevel(LogLevel.Trace)));

    /// <summary>A Redis store at a port nothing listens on: every operation fails.</summary>
    private static void Absent(RcOptions o, RcFailureMode mode = RcFailureMode.Degrade)
    {
        o.Store = RcStoreKind.Redis;
        o.Redis = $"127.0.0.1:{RedisServer.FreePort()}";
        o.FailureMode = mode;
        o.CircuitBreakerThreshold = 1;
    }

    /// <summary>The shared single server, with a timeout no slow moment of a loaded machine reaches.</summary>
    private static void Single(RcOptions o, RedisServer server)
    {
        TestServices.Redis(o, server);
        o.OperationTimeout = TimeSpan.FromSeconds(10);
    }

    /// <summary>Starts a small app whose [RcCached] endpoint /hello/{name} logs to the recorder.</summary>
    private async Task<WebApplication> StartAppAsync(Action<RcOptions> configure, bool authorizationAfterRcCache = false)
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseTestServer();

        // A rule for this provider, so that a Logging section in appsettings.json cannot hide Debug events from it.
        builder.Logging.ClearProviders().AddProvider(_logs).AddFilter<LogRecorder>(null, LogLevel.Trace);
        builder.Services.AddRcCache(o =>
        {
            o.Namespace = SharedRedis.UniqueNamespace();
            configure(o);
        });
        builder.Services.AddAuthorization();
        var app = builder.Build();
        if (authorizationAfterRcCache)
        {
            app.UseRcCache();
            app.UseAuthorization();
        }
        else
        {
            app.UseAuthorization();
            app.UseRcCache();
        }

        app.MapGet("/hello/{name}", [RcCached] (string name) => $"Hello {name}");
        app.MapMethods("/both/{name}", ["GET", "HEAD"], [RcCached] (string name) => $"Hello {name}");
        app.MapGet("/form", [RcCached] ([Microsoft.AspNetCore.Mvc.FromForm] int v) => $"Form {v}").DisableAntiforgery();
        app.MapGet("/secure/{name}", [RcCached] (string name) => $"Secure {name}").RequireAuthorization(static p => p.RequireAssertion(static _ => true));
        await app.StartAsync();
        return app;
    }

    private static async Task EventuallyAsync(Func<bool> condition)
    {
        for (var waited = 0; !condition() && waited < 300; waited++)
        {
            await Task.Delay(100);
        }
    }

    private static async Task<string> GetAsync(WebApplication app, string path)
    {
        using var client = app.GetTestClient();
        using var response = await client.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsStringAsync();
    }

    /// <summary>Checks that the event was logged with its fixed id, name and level, and that no record of RcAspNet at Information or above holds the key.</summary>
    private void AssertLogged(int id, string name, LogLevel level)
    {
        var records = _logs.Records.ToArray();
        Assert.True(
            records.Any(r => r.Id.Id == id && r.Id.Name == name && r.Level == level),
            $"Expected event {id} ({name}) at {level}; logged: {string.Join("; ", records.Select(static r => $"{r.Category} {r.Level} {r.Id.Id} {r.Id.Name}"))}");

        // ASP.NET Core's own request logs name the path; RcAspNet's must not name the key, in their messages or in the
        // exceptions they carry (StackExchange.Redis's name the command and its key).
        Assert.All(
            records.Where(static r => r.Category.StartsWith("RcAspNet", StringComparison.Ordinal) && r.Level >= LogLevel.Information),
            static r => Assert.DoesNotContain(Key, r.Message + r.Exception, StringComparison.Ordinal));
    }

    /// <summary>
    /// Each event the library declares has an id and a name of its own: a dashboard or alert that filters on an id must
    /// not also catch another event (two once shared 102).
    /// </summary>
    [Fact]
    public void EveryEvent_HasAnIdAndANameOfItsOwn()
    {
        var events = typeof(RcOptions).Assembly.GetTypes()
            .SelectMany(static t => t.GetMethods(System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.DeclaredOnly))
            .Select(static m => (Method: m, Event: m.GetCustomAttributes(typeof(LoggerMessageAttribute), false).OfType<LoggerMessageAttribute>().SingleOrDefault()))
            .Where(static e => e.Event is not null)
            .Select(static e => (Where: $"{e.Method.DeclaringType!.Name}.{e.Method.Name}", e.Event!.EventId, e.Event.EventName))
            .ToArray();

        Assert.True(events.Length >= 20, $"found only {events.Length} events: the reflection missed some");
        Assert.All(events.GroupBy(static e => e.EventId), static g => Assert.True(g.Count() == 1, $"event id {g.Key} is declared by {string.Join(", ", g.Select(static e => e.Where))}"));
        Assert.All(events.GroupBy(static e => e.EventName), static g => Assert.True(g.Count() == 1, $"event name {g.Key} is declared by {string.Join(", ", g.Select(static e => e.Where))}"));
    }

    [Fact]
    public async Task ValueTooLarge_Is200RcValueTooLarge()
    {
        await using var services = Services(static o => o.MaximumValueSize = 64);
        var cache = services.GetRequiredService<IRcCache>();
        await cache.SetAsync(Key, new string('v', 500));
        Assert.False(await cache.ExistsAsync(Key));
        AssertLogged(200, "RcValueTooLarge", LogLevel.Warning);
    }

    [Fact]
    public async Task UnknownEntryHeader_Is201RcCorruptEntry()
    {
        var server = await SharedRedis.Single;
        await using var services = Services(o => Single(o, server));
        var cache = services.GetRequiredService<IRcCache>();

        // rc's header with a version this library does not know.
        Assert.Equal("+OK\r\n", await server.CommandAsync("SET", cache.Namespace + Key, "\0RC\u0009" + new string('x', 16) + "\"value\""));
        Assert.Null(await cache.GetAsync<string>(Key));
        AssertLogged(201, "RcCorruptEntry", LogLevel.Warning);
    }

    [Theory]
    [InlineData("~~~~~~~~", "\0\0\0\0\0\0\0\0")] // a sliding window past what a TimeSpan holds
    [InlineData("\0\0\0\0\0\0\0\0", "~~~~~~~~")] // an absolute expiration past what a DateTimeOffset holds
    public async Task AHeaderOutOfRange_IsACorruptEntry_AMissNotAnException(string sliding, string absolute)
    {
        var server = await SharedRedis.Single;
        await using var services = Services(o => Single(o, server));
        var cache = services.GetRequiredService<IRcCache>();
        Assert.Equal("+OK\r\n", await server.CommandAsync("SET", cache.Namespace + Key, "\0RC\u0001" + sliding + absolute + "\"value\""));

        Assert.Null(await cache.GetAsync<string>(Key));
        Assert.Null(await services.GetRequiredService<IDistributedCache>().GetAsync(Key));
        AssertLogged(201, "RcCorruptEntry", LogLevel.Warning);
    }

    [Fact]
    public async Task EntryOfAnotherType_Is300RcUnreadableEntry()
    {
        await using var services = Services(static _ => { });
        var cache = services.GetRequiredService<IRcCache>();
        await cache.SetAsync(Key, "not a number");
        Assert.Equal(0, await cache.GetAsync<int>(Key));
        AssertLogged(300, "RcUnreadableEntry", LogLevel.Warning);
    }

    [Fact]
    public async Task KeyTooLongForCacheAside_Is301RcKeyBypassedAtDebug()
    {
        await using var services = Services(static o => o.MaximumKeyLength = 16);
        var cache = services.GetRequiredService<IRcCache>();
        Assert.Equal(1, await cache.GetOrSetAsync(Key, static _ => ValueTask.FromResult(1)));
        AssertLogged(301, "RcKeyBypassed", LogLevel.Debug);
    }

    [Fact]
    public async Task FailedOperation_Is100RcOperationFailed()
    {
        await using var services = Services(static o => Absent(o));
        Assert.Null(await services.GetRequiredService<IRcCache>().GetAsync<string>(Key));
        AssertLogged(100, "RcOperationFailed", LogLevel.Warning);
    }

    [Fact]
    public async Task CircuitOpening_Is102RcCircuitChanged()
    {
        await using var services = Services(static o => Absent(o));
        Assert.Null(await services.GetRequiredService<IRcCache>().GetAsync<string>(Key));
        AssertLogged(102, "RcCircuitChanged", LogLevel.Warning);
        Assert.Contains(_logs.Records, static r => r.Id.Id == 102 && r.Message.EndsWith("is now open.", StringComparison.Ordinal));
    }

    [Fact]
    public async Task CallSkippedByAnOpenCircuit_Is103RcCircuitOpenSkipAtDebug()
    {
        await using var services = Services(static o =>
        {
            Absent(o);

            // No probe closes the circuit between the two calls (none could: nothing listens).
            o.CircuitBreakDuration = TimeSpan.FromMinutes(5);
        });
        var cache = services.GetRequiredService<IRcCache>();
        Assert.Null(await cache.GetAsync<string>(Key));
        Assert.Null(await cache.GetAsync<string>(Key));
        AssertLogged(103, "RcCircuitOpenSkip", LogLevel.Debug);
    }

    [Fact]
    public async Task KeyHoldingAHash_Is104RcForeignData()
    {
        var server = await SharedRedis.Single;
        await using var services = Services(o => Single(o, server));
        var cache = services.GetRequiredService<IRcCache>();
        Assert.Equal(":1\r\n", await server.CommandAsync("HSET", cache.Namespace + Key, "field", "value"));
        Assert.Null(await cache.GetAsync<string>(Key));
        AssertLogged(104, "RcForeignData", LogLevel.Warning);
    }

    [Fact]
    public async Task RemovalThatCannotReachItsServer_Is105RcRemovalKept()
    {
        await using var services = Services(static o => Absent(o));
        Assert.Equal(new RcRemovalResult(0, 1), await services.GetRequiredService<IRcCache>().DeleteAsync(Key));
        AssertLogged(105, "RcRemovalKept", LogLevel.Warning);
    }

    [Fact]
    public async Task KeptRemovalDelivered_Is106RcRemovalsDelivered()
    {
        var port = RedisServer.FreePort();
        await using var services = Services(o =>
        {
            (o.Store, o.Redis, o.CircuitBreakerThreshold) = (RcStoreKind.Redis, $"127.0.0.1:{port}", 1);
            o.CircuitBreakDuration = TimeSpan.FromMilliseconds(200);
        });
        Assert.Equal(1, (await services.GetRequiredService<IRcCache>().DeleteAsync(Key)).Pending);
        await using var server = await RedisServer.StartOnAsync(port);
        await EventuallyAsync(() => _logs.Records.Any(static r => r.Id.Id == 106));
        AssertLogged(106, "RcRemovalsDelivered", LogLevel.Information);
    }

    [Fact]
    public async Task MoreRemovalsThanTheBound_Is107RcPendingRemovalsOverflowed()
    {
        await using var services = Services(static o =>
        {
            Absent(o);
            o.PendingRemovalLimit = 2;
        });
        Assert.Equal(3, (await services.GetRequiredService<IRcCache>().DeleteManyAsync([Key, Key + "2", Key + "3"])).Pending);
        AssertLogged(107, "RcPendingRemovalsOverflowed", LogLevel.Warning);
    }

    [Fact]
    public async Task RestartedServer_Is108RcServerIdentityChanged()
    {
        await using var server = await RedisServer.StartAsync();
        await using var services = Services(o => (o.Store, o.Redis, o.CircuitBreakDuration) = (RcStoreKind.Redis, server.EndPoint, TimeSpan.FromMilliseconds(200)));
        var cache = services.GetRequiredService<IRcCache>();
        await cache.SetAsync(Key, "value");
        await EventuallyAsync(() => _logs.Records.Any(static r => r.Id.Id == 110));
        await server.RestartAsync();
        await EventuallyAsync(() => _logs.Records.Any(static r => r.Id.Id == 108));
        AssertLogged(108, "RcServerIdentityChanged", LogLevel.Warning);
    }

    [Fact]
    public async Task RecoveryOfAServerStillDown_Is109RcRecoveryFailedAtDebug()
    {
        await using var services = Services(static o =>
        {
            Absent(o);
            o.CircuitBreakDuration = TimeSpan.FromMilliseconds(200);
        });
        Assert.Null(await services.GetRequiredService<IRcCache>().GetAsync<string>(Key));
        await EventuallyAsync(() => _logs.Records.Any(static r => r.Id.Id == 109));
        AssertLogged(109, "RcRecoveryFailed", LogLevel.Debug);
    }

    [Fact]
    public async Task RefusedPassword_Is113RcAuthenticationFailed()
    {
        await using var server = await RedisServer.StartAsync(new RedisSecurity(null, "right-password"));
        await using var services = Services(o => (o.Store, o.Redis) = (RcStoreKind.Redis, $"{server.EndPoint},password=wrong-password"));
        Assert.Null(services.GetRequiredService<IDistributedCache>().Get(Key));
        AssertLogged(113, "RcAuthenticationFailed", LogLevel.Error);
    }

    [Fact]
    public async Task BatchFlushWithoutStore_Is400RcBatchStoreFailed()
    {
        await using var services = Services(static o => Absent(o, RcFailureMode.Throw));
        await using var scope = services.CreateAsyncScope();
        var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
        var promise = batch.Load(Key, static _ => ValueTask.FromResult(42));
        await batch.FlushAsync();
        Assert.Equal(42, promise.Value);
        AssertLogged(400, "RcBatchStoreFailed", LogLevel.Warning);
    }

    [Fact]
    public async Task RequestWhoseKeyIsTooLong_Is500RcCachedUnkeyableAtDebug()
    {
        await using var app = await StartAppAsync(static o => o.MaximumKeyLength = 24);
        Assert.Equal($"Hello {Key}", await GetAsync(app, $"/hello/{Key}"));
        AssertLogged(500, "RcCachedUnkeyable", LogLevel.Debug);
    }

    [Fact]
    public async Task RequestWithAMalformedForm_Is503RcCachedUnreadableFormAtDebug()
    {
        await using var app = await StartAppAsync(static _ => { });
        using var client = app.GetTestClient();
        var body = new StringContent("--x\r\nContent-Disposition: form-data; name=\"v\"\r\n\r\n5");
        body.Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse("multipart/form-data; boundary=x");
        using var request = new HttpRequestMessage(HttpMethod.Get, "/form") { Content = body };
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        AssertLogged(503, "RcCachedUnreadableForm", LogLevel.Debug);
        Assert.DoesNotContain(_logs.Records, static r => r.Id.Id == 500);
    }

    [Fact]
    public async Task ResponsePastMaximumValueSize_Is504RcCachedBodyTooLarge()
    {
        await using var app = await StartAppAsync(static o => o.MaximumValueSize = 16);
        using var client = app.GetTestClient();
        using var head = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/both/{Key}"));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.DoesNotContain(_logs.Records, static r => r.Id.Id == 504); // a HEAD request's answer is never stored anyway
        Assert.Equal($"Hello {Key}", await GetAsync(app, $"/hello/{Key}"));
        AssertLogged(504, "RcCachedBodyTooLarge", LogLevel.Warning);
    }

    [Fact]
    public async Task RequestAnsweredWithoutStore_Is501RcCachedSkipped()
    {
        await using var app = await StartAppAsync(static o => Absent(o, RcFailureMode.Throw));
        Assert.Equal($"Hello {Key}", await GetAsync(app, $"/hello/{Key}"));
        AssertLogged(501, "RcCachedSkipped", LogLevel.Warning);
    }

    [Fact]
    public async Task RcCacheBeforeAuthorization_Is502RcCachedBeforeAuthorization()
    {
        await using var app = await StartAppAsync(static _ => { }, authorizationAfterRcCache: true);
        Assert.Equal($"Secure {Key}", await GetAsync(app, $"/secure/{Key}"));
        AssertLogged(502, "RcCachedBeforeAuthorization", LogLevel.Warning);
    }
}
