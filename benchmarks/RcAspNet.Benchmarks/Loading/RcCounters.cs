using System.Diagnostics.Metrics;

namespace RcAspNet.Benchmarks.Loading;

/// <summary>
/// RcAspNet's own counts, over every service provider of this process: the store operations that failed
/// (<c>rc.store.errors</c>: a failed or slow operation degrades to a miss, so no row may hide one) and the reads the
/// near cache answered (<c>rc.near.hits</c>: how a node shows that its invalidation link is up).
/// </summary>
internal sealed class RcCounters : IDisposable
{
    private readonly MeterListener _listener = new();
    private long _storeErrors;
    private long _nearHits;

    public RcCounters()
    {
        _listener.InstrumentPublished = static (instrument, listener) =>
        {
            if (instrument.Meter.Name == RcDiagnostics.MeterName && instrument.Name is "rc.store.errors" or "rc.near.hits")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            if (instrument.Name == "rc.store.errors")
            {
                Interlocked.Add(ref _storeErrors, value);
            }
            else
            {
                Interlocked.Add(ref _nearHits, value);
            }
        });
        _listener.Start();
    }

    public long StoreErrors => Interlocked.Read(ref _storeErrors);

    public long NearHits => Interlocked.Read(ref _nearHits);

    public void Dispose() => _listener.Dispose();
}
