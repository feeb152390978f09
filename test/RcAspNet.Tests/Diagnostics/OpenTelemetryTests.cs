using System.Diagnostics;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Diagnostics;

/// <summary>
/// <c>AddRcInstrumentation()</c> on OpenTelemetry's builders, in an app as users write it: an [RcCached] request's
/// store operations are spans under the request's own span, and the hit and miss counters move.
/// </summary>
/// <remarks>
/// OpenTelemetry's meter provider listens to every meter named <see cref="RcDiagnostics.MeterName"/> in the process,
/// whichever app made it, so the counts are taken with no other test running.
/// </remarks>
[Collection(AloneCollection.Name)]
public sealed class OpenTelemetryTests : IAsyncLifetime
{
    private readonly List<Activity> _spans = [];
    private readonly List<MetricSnapshot> _metrics = [];
    private Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactory<RcAspNet.TestApp.Counters>? _app;

    public async Task InitializeAsync()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Rc:Store"] = "Redis",
            ["Rc:Redis"] = (await SharedRedis.Single).EndPoint,
            ["Rc:Namespace"] = SharedRedis.UniqueNamespace(),
        };
        _app = new TestAppFactory(settings).WithWebHostBuilder(b => b.ConfigureTestServices(services => services.AddOpenTelemetry()
            .WithTracing(t => t.AddAspNetCoreInstrumentation().AddRcInstrumentation().AddInMemoryExporter(_spans))
            .WithMetrics(m => m.AddRcInstrumentation().AddInMemoryExporter(_metrics))));
        _ = _app.Server;
    }

    public async Task DisposeAsync() => await _app!.DisposeAsync();

    [Fact]
    public async Task CachedRequest_StoreOperationsAreSpansUnderTheRequestsSpan()
    {
        var path = $"/hello/otel-{Guid.NewGuid():N}";
        await GetAsync(path);
        await GetAsync(path);

        var requests = await RequestSpansAsync(path, 2);
        string[] Children(Activity request)
        {
            lock (_spans)
            {
                return [.. _spans.Where(s => s.Source.Name == RcDiagnostics.ActivitySourceName && s.TraceId == request.TraceId && s.ParentSpanId == request.SpanId)
                    .Select(static s => $"{s.OperationName} {s.GetTagItem("rc.store")} {s.GetTagItem("rc.shard")}")
                    .Order(StringComparer.Ordinal)];
            }
        }

        // The miss reads, takes its fill lease, renders and writes; the hit reads.
        Assert.Equal(["get redis redis", "lease redis redis", "set redis redis"], Children(requests[0]));
        Assert.Equal(["get redis redis"], Children(requests[1]));
    }

    [Fact]
    public async Task CachedRequest_MovesTheMissThenTheHitCounter()
    {
        var path = $"/hello/otel-{Guid.NewGuid():N}";
        await GetAsync(path);
        Assert.Equal((0, 1), Counts());
        await GetAsync(path);
        Assert.Equal((1, 1), Counts());
    }

    private async Task GetAsync(string path)
    {
        using var client = _app!.CreateClient();
        using var response = await client.GetAsync(path);
        response.EnsureSuccessStatusCode();
    }

    /// <summary>The request spans of <paramref name="path"/>, oldest first, once <paramref name="count"/> have ended.</summary>
    private async Task<Activity[]> RequestSpansAsync(string path, int count)
    {
        // The server ends a request's span after the client has read the response.
        for (var waited = Stopwatch.StartNew(); ; await Task.Delay(20))
        {
            lock (_spans)
            {
                var requests = _spans.Where(s => s.Source.Name == "Microsoft.AspNetCore" && Equals(s.GetTagItem("url.path"), path)).OrderBy(static s => s.StartTimeUtc).ToArray();
                if (requests.Length == count || waited.Elapsed > TimeSpan.FromSeconds(30))
                {
                    Assert.Equal(count, requests.Length);
                    return requests;
                }
            }
        }
    }

    /// <summary>The hits and misses the meter provider has counted so far.</summary>
    private (long Hits, long Misses) Counts()
    {
        _metrics.Clear();
        Assert.True(_app!.Services.GetRequiredService<MeterProvider>().ForceFlush());
        long Sum(string name)
        {
            var sum = 0L;
            foreach (var point in _metrics.Where(m => m.Name == name).SelectMany(static m => m.MetricPoints))
            {
                sum += point.GetSumLong();
            }

            return sum;
        }

        return (Sum("rc.cache.hits"), Sum("rc.cache.misses"));
    }
}
