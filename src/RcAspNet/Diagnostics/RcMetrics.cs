using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace RcAspNet.Diagnostics;

/// <summary>
/// The instruments of one service provider's <see cref="RcDiagnostics.MeterName"/> meter. Tags are low-cardinality
/// only: cache name, store kind, shard name, operation, and the kind of error or circuit state. Never a key.
/// </summary>
internal sealed class RcMetrics
{
    internal static readonly ActivitySource ActivitySource = new(RcDiagnostics.ActivitySourceName);

    // The tags every instrument and activity uses, spelled once.
    private const string CacheTag = "rc.cache";
    private const string StoreTag = "rc.store";
    private const string ShardTag = "rc.shard";
    private const string OperationTag = "rc.operation";
    private const string ErrorTypeTag = "error.type";
    private const string CircuitStateTag = "rc.circuit.state";

    private readonly Counter<long> _hits;
    private readonly Counter<long> _misses;
    private readonly Counter<long> _errors;
    private readonly Counter<long> _timeouts;
    private readonly Counter<long> _circuitChanges;
    private readonly Histogram<double> _duration;
    private readonly Histogram<int> _batchSize;
    private readonly Histogram<int> _batchRoundTrips;
    private readonly Counter<long> _nearHits;
    private readonly Counter<long> _nearInvalidations;
    private readonly Counter<long> _removalsDelivered;
    private readonly Counter<long> _namespacesCleared;
    private readonly Counter<long> _stale;
    private readonly List<Func<IEnumerable<(string Store, string Shard, int Pending)>>> _pendingSources = [];

    public RcMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(RcDiagnostics.MeterName);
        _hits = meter.CreateCounter<long>("rc.cache.hits", "{entry}", "Reads that found an entry.");
        _misses = meter.CreateCounter<long>("rc.cache.misses", "{entry}", "Reads that found nothing, or nothing usable.");
        _errors = meter.CreateCounter<long>("rc.store.errors", "{operation}", "Store operations that failed, by error type.");
        _timeouts = meter.CreateCounter<long>("rc.store.timeouts", "{operation}", "Store operations that took longer than the operation timeout.");
        _circuitChanges = meter.CreateCounter<long>("rc.circuit.state_changes", "{change}", "Circuit breaker transitions, by new state.");
        _duration = meter.CreateHistogram<double>("rc.store.operation.duration", "s", "Duration of store operations.");
        _batchSize = meter.CreateHistogram<int>("rc.batch.size", "{lookup}", "Lookups resolved by one batch flush.");
        _batchRoundTrips = meter.CreateHistogram<int>("rc.batch.round_trips", "{round_trip}", "Store round trips of one batch flush.");
        _nearHits = meter.CreateCounter<long>("rc.near.hits", "{read}", "Reads the near cache answered without a Redis command.");
        _nearInvalidations = meter.CreateCounter<long>("rc.near.invalidations", "{key}", "Keys Redis reported changed to the near cache (a flush counts once).");
        _removalsDelivered = meter.CreateCounter<long>("rc.removals.delivered_late", "{removal}", "Removals kept for a server that did not answer, delivered once it did.");
        _namespacesCleared = meter.CreateCounter<long>("rc.removals.namespaces_cleared", "{clear}", "Servers cleared of the store's namespaces because more removals were kept for them than the bound allows.");
        _stale = meter.CreateCounter<long>("rc.cache.stale", "{answer}", "Answers served from a fail-safe fallback past its freshness, by reason: factory_failed, soft_timeout, hard_timeout or throttled.");
        meter.CreateObservableGauge("rc.removals.pending", ObservePending, "{removal}", "Removals kept for a server until it answers again; it serves nothing of this node meanwhile.");
    }

    /// <summary>A provider-free instance, for stores built outside DI (tests, benchmarks).</summary>
    public static RcMetrics Standalone { get; } = new(new StandaloneMeterFactory());

    /// <summary>Reads of one cache (the default one, or a named one) that found a usable entry, and those that did not.</summary>
    public void Lookup(string cache, string store, int hits, int misses)
    {
        if (hits > 0 && _hits.Enabled)
        {
            _hits.Add(hits, new TagList { { CacheTag, cache }, { StoreTag, store } });
        }

        if (misses > 0 && _misses.Enabled)
        {
            _misses.Add(misses, new TagList { { CacheTag, cache }, { StoreTag, store } });
        }
    }

    public void Error(string store, string shard, string operation, string errorType)
    {
        if (_errors.Enabled)
        {
            var tags = Tags(store, shard, operation);
            tags.Add(ErrorTypeTag, errorType);
            _errors.Add(1, tags);
        }
    }

    public void Timeout(string store, string shard, string operation)
    {
        if (_timeouts.Enabled)
        {
            _timeouts.Add(1, Tags(store, shard, operation));
        }
    }

    public void CircuitChanged(string store, string shard, string state)
    {
        var tags = new TagList { { StoreTag, store }, { ShardTag, shard }, { CircuitStateTag, state } };
        _circuitChanges.Add(1, tags);
    }

    public void Duration(string store, string shard, string operation, long startTimestamp)
    {
        if (_duration.Enabled)
        {
            _duration.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds, Tags(store, shard, operation));
        }
    }

    public void NearHit(string store, string shard)
    {
        if (_nearHits.Enabled)
        {
            _nearHits.Add(1, new TagList { { StoreTag, store }, { ShardTag, shard } });
        }
    }

    public void NearInvalidations(string store, string shard, int keys) =>
        _nearInvalidations.Add(keys, new TagList { { StoreTag, store }, { ShardTag, shard } });

    /// <summary>Adds the servers of a store to the <c>rc.removals.pending</c> gauge, until the returned handle is disposed.</summary>
    public IDisposable ObservePendingRemovals(Func<IEnumerable<(string Store, string Shard, int Pending)>> source)
    {
        lock (_pendingSources)
        {
            _pendingSources.Add(source);
        }

        return new Unobserve(this, source);
    }

    public void RemovalsDelivered(string store, string shard, int count) =>
        _removalsDelivered.Add(count, new TagList { { StoreTag, store }, { ShardTag, shard } });

    public void NamespaceCleared(string store, string shard) =>
        _namespacesCleared.Add(1, new TagList { { StoreTag, store }, { ShardTag, shard } });

    public void Stale(string cache, string store, string reason)
    {
        if (_stale.Enabled)
        {
            _stale.Add(1, new TagList { { CacheTag, cache }, { StoreTag, store }, { "rc.stale.reason", reason } });
        }
    }

    public bool BatchEnabled => _batchSize.Enabled || _batchRoundTrips.Enabled;

    public void BatchFlushed(string store, int lookups, int roundTrips)
    {
        _batchSize.Record(lookups, new KeyValuePair<string, object?>(StoreTag, store));
        _batchRoundTrips.Record(roundTrips, new KeyValuePair<string, object?>(StoreTag, store));
    }

    public static Activity? StartActivity(string store, string shard, string operation)
    {
        var activity = ActivitySource.StartActivity(operation, ActivityKind.Client);
        if (activity is not null)
        {
            activity.SetTag(StoreTag, store);
            activity.SetTag(ShardTag, shard);
            activity.SetTag("db.system", store == "memory" ? "memory" : "redis");
        }

        return activity;
    }

    private IEnumerable<Measurement<int>> ObservePending()
    {
        Func<IEnumerable<(string Store, string Shard, int Pending)>>[] sources;
        lock (_pendingSources)
        {
            sources = [.. _pendingSources];
        }

        foreach (var source in sources)
        {
            foreach (var (store, shard, pending) in source())
            {
                yield return new Measurement<int>(pending, new KeyValuePair<string, object?>(StoreTag, store), new KeyValuePair<string, object?>(ShardTag, shard));
            }
        }
    }

    private static TagList Tags(string store, string shard, string operation) =>
        new() { { StoreTag, store }, { ShardTag, shard }, { OperationTag, operation } };

    private sealed class Unobserve(RcMetrics metrics, Func<IEnumerable<(string Store, string Shard, int Pending)>> source) : IDisposable
    {
        public void Dispose()
        {
            lock (metrics._pendingSources)
            {
                metrics._pendingSources.Remove(source);
            }
        }
    }

    private sealed class StandaloneMeterFactory : IMeterFactory
    {
        public Meter Create(MeterOptions options) => new(options);

        public void Dispose()
        {
        }
    }
}
