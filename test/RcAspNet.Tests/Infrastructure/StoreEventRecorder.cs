using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;

namespace RcAspNet.Tests.Infrastructure;

/// <summary>
/// Records, with the time of each, what one service provider's RcAspNet meter reports of store errors, timeouts and
/// circuit changes, so that a test can tell when a primary's circuit was open.
/// </summary>
public sealed class StoreEventRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<StoreEvent> _events = new();

    public StoreEventRecorder(IServiceProvider services)
    {
        var meter = services.GetRequiredService<IMeterFactory>().Create(RcDiagnostics.MeterName);
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, meter) && instrument.Name is "rc.store.errors" or "rc.store.timeouts" or "rc.circuit.state_changes")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, _, tags, _) =>
        {
            string? shard = null, operation = null, errorType = null, state = null;
            foreach (var tag in tags)
            {
                var value = tag.Value?.ToString();
                switch (tag.Key)
                {
                    case "rc.shard":
                        shard = value;
                        break;
                    case "rc.operation":
                        operation = value;
                        break;
                    case "error.type":
                        errorType = value;
                        break;
                    case "rc.circuit.state":
                        state = value;
                        break;
                }
            }

            _events.Enqueue(new StoreEvent(Stopwatch.GetTimestamp(), instrument.Name, shard ?? "", operation, errorType, state));
        });
        _listener.Start();
    }

    public IReadOnlyCollection<StoreEvent> Events => _events;

    /// <summary>The intervals during which the circuit of the cluster node on <paramref name="port"/> was open (the last one up to now if it still is).</summary>
    public IReadOnlyList<(long From, long To)> OpenIntervals(int port)
    {
        var shard = $":{port}";
        var intervals = new List<(long, long)>();
        long? openedAt = null;
        foreach (var change in _events.Where(e => e.Instrument == "rc.circuit.state_changes" && e.Shard.EndsWith(shard, StringComparison.Ordinal)).OrderBy(static e => e.At))
        {
            if (change.CircuitState == "open")
            {
                openedAt ??= change.At;
            }
            else if (openedAt is { } from)
            {
                intervals.Add((from, change.At));
                openedAt = null;
            }
        }

        if (openedAt is { } stillOpen)
        {
            intervals.Add((stillOpen, Stopwatch.GetTimestamp()));
        }

        return intervals;
    }

    public void Dispose() => _listener.Dispose();
}
