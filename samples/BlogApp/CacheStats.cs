using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using RcAspNet;

namespace BlogApp;

/// <summary>
/// What /stats draws, read from RcAspNet's own meter (<see cref="RcDiagnostics.MeterName"/>) with a
/// <see cref="MeterListener"/>: hits and misses of each cache, the answers each cache served stale (its fail-safe
/// fallback, while what renders them failed) by reason, store round trips and errors of each shard, and the removals
/// kept for each shard that could not be reached. It listens to this app's meter only, so that other apps in
/// the same process do not count.
/// </summary>
public sealed class CacheStats : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<(string Instrument, string Name), long> _counts = new();
    private readonly ConcurrentDictionary<string, long> _pending = new();
    private readonly ConcurrentDictionary<(string Cache, string Reason), long> _stale = new();

    public CacheStats(IMeterFactory meters)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == RcDiagnostics.MeterName && ReferenceEquals(instrument.Meter.Scope, meters)
                && instrument.Name is "rc.cache.hits" or "rc.cache.misses" or "rc.cache.stale" or "rc.store.operation.duration" or "rc.store.errors" or "rc.removals.pending")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            if (instrument.Name == "rc.cache.stale")
            {
                CountStale(value, tags);
            }
            else
            {
                Count(instrument.Name, value, tags);
            }
        });
        _listener.SetMeasurementEventCallback<double>((instrument, _, tags, _) => Count(instrument.Name, 1, tags));
        _listener.SetMeasurementEventCallback<int>((_, value, tags, _) =>
        {
            // A gauge: the latest reading of each shard.
            foreach (var tag in tags)
            {
                if (tag.Key == "rc.shard" && tag.Value is string shard)
                {
                    _pending[shard] = value;
                }
            }
        });
        _listener.Start();
    }

    /// <summary>Hits, misses and stale answers by cache; round trips and errors by shard, as counted so far; removals kept by shard, now.</summary>
    public Snapshot Read()
    {
        _listener.RecordObservableInstruments();
        var counts = _counts.ToArray();
        var stale = _stale.ToArray();
        long Of(string instrument, string name) => counts.Where(c => c.Key == (instrument, name)).Sum(static c => c.Value);
        IReadOnlyList<(string Reason, long Count)> StaleOf(string cache) =>
            [.. stale.Where(s => s.Key.Cache == cache).OrderBy(static s => s.Key.Reason, StringComparer.Ordinal).Select(static s => (s.Key.Reason, s.Value))];
        var caches = counts.Where(static c => c.Key.Instrument is "rc.cache.hits" or "rc.cache.misses").Select(static c => c.Key.Name)
            .Concat(stale.Select(static s => s.Key.Cache)).Distinct().Order(StringComparer.Ordinal);
        var shards = counts.Where(static c => c.Key.Instrument is "rc.store.operation.duration" or "rc.store.errors").Select(static c => c.Key.Name).Concat(_pending.Keys).Distinct().Order(StringComparer.Ordinal);
        return new Snapshot(
            [.. caches.Select(c => new CacheLine(c, Of("rc.cache.hits", c), Of("rc.cache.misses", c), StaleOf(c)))],
            [.. shards.Select(s => new ShardLine(s, Of("rc.store.operation.duration", s), Of("rc.store.errors", s), _pending.GetValueOrDefault(s)))]);
    }

    public void Dispose() => _listener.Dispose();

    private void Count(string instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var by = instrument.StartsWith("rc.cache.", StringComparison.Ordinal) ? "rc.cache" : "rc.shard";
        foreach (var tag in tags)
        {
            if (tag.Key == by && tag.Value is string name)
            {
                _counts.AddOrUpdate((instrument, name), static (_, v) => v, static (_, n, v) => n + v, value);
                return;
            }
        }
    }

    /// <summary>A stale answer, by cache and by reason (<c>rc.stale.reason</c>: factory_failed, soft_timeout, hard_timeout or throttled).</summary>
    private void CountStale(long value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        string? cache = null;
        string? reason = null;
        foreach (var tag in tags)
        {
            if (tag.Key == "rc.cache")
            {
                cache = tag.Value as string;
            }
            else if (tag.Key == "rc.stale.reason")
            {
                reason = tag.Value as string;
            }
        }

        if (cache is not null)
        {
            _stale.AddOrUpdate((cache, reason ?? "unknown"), static (_, v) => v, static (_, n, v) => n + v, value);
        }
    }

    public sealed record Snapshot(IReadOnlyList<CacheLine> Caches, IReadOnlyList<ShardLine> Shards);

    /// <param name="StaleByReason">The answers served from the fail-safe fallback, by reason, in reason order.</param>
    public sealed record CacheLine(string Cache, long Hits, long Misses, IReadOnlyList<(string Reason, long Count)> StaleByReason)
    {
        public double HitRatio => Hits + Misses == 0 ? 0 : (double)Hits / (Hits + Misses);

        /// <summary>Gets the answers served stale, for any reason.</summary>
        public long Stale => StaleByReason.Sum(static s => s.Count);
    }

    public sealed record ShardLine(string Shard, long RoundTrips, long Errors, long PendingRemovals);
}
