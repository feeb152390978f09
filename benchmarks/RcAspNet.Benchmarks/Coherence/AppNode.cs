using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;

namespace RcAspNet.Benchmarks.Coherence;

/// <summary>
/// One application instance: a service provider of its own built with <c>AddRcCache</c>, its
/// <see cref="IDistributedCache"/>, and the count of reads its near cache answered (its meter's <c>rc.near.hits</c>).
/// </summary>
internal sealed class AppNode : IAsyncDisposable
{
    private static readonly TimeSpan WarmDeadline = TimeSpan.FromSeconds(30);

    private readonly ServiceProvider _services;
    private readonly MeterListener _listener = new();
    private long _nearHits;

    public AppNode(Action<RcOptions> store, bool nearCache)
    {
        _services = new ServiceCollection()
            .AddRcCache(o =>
            {
                store(o);
                o.Namespace = CoherenceCommand.Namespace;
                o.NearCache.Enabled = nearCache;
            })
            .BuildServiceProvider();
        Cache = _services.GetRequiredService<IDistributedCache>();
        var meter = _services.GetRequiredService<IMeterFactory>().Create(RcDiagnostics.MeterName);
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, meter) && instrument.Name == "rc.near.hits")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref _nearHits, value));
        _listener.Start();
    }

    public IDistributedCache Cache { get; }

    public long NearHits => Interlocked.Read(ref _nearHits);

    /// <summary>Reads every key until one pass over them is answered by the near cache alone (each server's invalidation link is up).</summary>
    public async Task WarmAsync(IReadOnlyList<string> keys)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            var before = NearHits;
            foreach (var key in keys)
            {
                _ = await Cache.GetAsync(key) ?? throw new InvalidOperationException($"{key} was not found while warming.");
            }

            if (NearHits - before == keys.Count)
            {
                return;
            }

            if (waited.Elapsed > WarmDeadline)
            {
                throw new TimeoutException($"The near cache did not answer every key within {WarmDeadline.TotalSeconds} s: an invalidation link never came up.");
            }

            await Task.Delay(20);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Dispose();
        await _services.DisposeAsync();
    }
}
