using System.Runtime.InteropServices;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RcAspNet.Caching;
using RcAspNet.Diagnostics;

namespace RcAspNet.Batching;

/// <summary>The request-scoped <see cref="IRcBatch"/> over the default cache.</summary>
internal sealed partial class RcBatch : IRcBatch, IAsyncDisposable
{
    private readonly RcCache _cache;
    private readonly RcMetrics _metrics;
    private readonly ILogger _logger;
    private readonly int _concurrency;
    private readonly Lock _lock = new();
    private readonly Func<CancellationToken, Task> _flush;
    private List<BatchEntry> _queue = [];
    private readonly Dictionary<string, BatchEntry?> _queued = new(StringComparer.Ordinal);
    private bool _disposed;

    public RcBatch(IServiceProvider services, CacheRegistry registry, RcMetrics metrics, IOptions<RcOptions> options, ILogger<RcBatch> logger)
    {
        if (ReferenceEquals(services, services.GetService<IServiceScopeFactory>()))
        {
            throw new InvalidOperationException(
                "IRcBatch is scoped to a request: resolve it in a request, or in a scope of your own (IServiceScopeFactory.CreateAsyncScope()) outside one.");
        }

        _cache = registry.Default;
        _metrics = metrics;
        _logger = logger;
        _concurrency = options.Value.BatchConcurrency;
        _flush = FlushAsync;
    }

    /// <summary>Gets how many lookups wait for the next flush.</summary>
    internal int PendingCount
    {
        get
        {
            lock (_lock)
            {
                return _queue.Count;
            }
        }
    }

    public RcPromise<T> Load<T>(string key, Func<CancellationToken, ValueTask<T>> loader, RcEntryOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(loader);
        var namespaced = _cache.NamespacedKey(key);
        lock (_lock)
        {
            ref var queued = ref Slot(namespaced);
            return queued is BatchEntry<T> same ? same.Promise : Enqueue(ref queued, new SingleEntry<T>(key, namespaced, options, _flush, loader));
        }
    }

    public RcPromise<T> Load<TArg, T>(string name, TArg argument, Func<IReadOnlyList<TArg>, CancellationToken, ValueTask<IReadOnlyDictionary<TArg, T>>> loadMany, RcEntryOptions? options = null)
        where TArg : notnull
    {
        ArgumentNullException.ThrowIfNull(argument);
        ArgumentNullException.ThrowIfNull(loadMany);
        var key = RcKey.For(name, argument);
        var namespaced = _cache.NamespacedKey(key);
        lock (_lock)
        {
            ref var queued = ref Slot(namespaced);
            return queued is BatchEntry<T> same ? same.Promise : Enqueue(ref queued, new ManyEntry<TArg, T>(key, namespaced, options, _flush, argument, loadMany));
        }
    }

    public async Task FlushAsync(CancellationToken cancellationToken = default)
    {
        List<BatchEntry> entries;
        lock (_lock)
        {
            if (_queue.Count == 0)
            {
                return;
            }

            entries = _queue;
            _queue = [];
            _queued.Clear();
        }

        var taken = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        foreach (var entry in entries)
        {
            entry.TakenBy(taken.Task);
        }

        try
        {
            await ResolveAsync(entries, cancellationToken).ConfigureAwait(false);
            taken.SetResult();
        }
        catch (Exception ex)
        {
            // Cancellation, or a failure this flush did not expect: no handle may stay pending.
            foreach (var entry in entries)
            {
                entry.Fail(ex);
            }

            taken.SetResult();
            throw;
        }
    }

    public ValueTask DisposeAsync()
    {
        List<BatchEntry> abandoned;
        lock (_lock)
        {
            _disposed = true;
            abandoned = _queue;
            _queue = [];
            _queued.Clear();
        }

        foreach (var entry in abandoned)
        {
            entry.Fail(new InvalidOperationException(
                "The request ended before this batched lookup was flushed: await its handle, or IRcBatch.FlushAsync(), before the response is complete."));
        }

        return default;
    }

    /// <summary>
    /// The queued lookup of a key, found or added with one hash of it: a key queued twice is fetched and loaded once, the
    /// second lookup sharing the first one's handle (of the same type; one of another type is fetched on its own).
    /// </summary>
    private ref BatchEntry? Slot(string namespacedKey)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return ref CollectionsMarshal.GetValueRefOrAddDefault(_queued, namespacedKey, out _);
    }

    private RcPromise<T> Enqueue<T>(ref BatchEntry? queued, BatchEntry<T> entry)
    {
        queued ??= entry;
        _queue.Add(entry);
        return entry.Promise;
    }

    /// <summary>
    /// Resolves lookups through the cache's loader, all at once: single loaders run at most
    /// <see cref="RcOptions.BatchConcurrency"/> at a time, and the misses of a load-many loader share one call of it.
    /// </summary>
    private async Task LoadThroughLoaderAsync(List<BatchEntry> entries, (ReadOnlyMemory<byte>? Value, EntryHeader Header)[] reads, List<int> managed, CancellationToken cancellationToken)
    {
        // Not disposed: a load that outlives the flush (past a timeout, an eager refresh) still takes and releases it.
        var loads = new SemaphoreSlim(_concurrency);
        var tasks = new List<Task>(managed.Count);
        foreach (var group in managed.GroupBy(i => entries[i].LoaderIdentity))
        {
            var members = group.ToArray();
            var shared = entries[members[0]].Share(members.Length);
            foreach (var i in members)
            {
                tasks.Add(entries[i].LoadThroughAsync(_cache, reads[i].Value, reads[i].Header, shared, loads, cancellationToken));
            }
        }

        await Task.WhenAll(tasks).ConfigureAwait(false);
    }

    private async Task ResolveAsync(List<BatchEntry> entries, CancellationToken cancellationToken)
    {
        var namespaced = new string[entries.Count];
        for (var i = 0; i < namespaced.Length; i++)
        {
            namespaced[i] = entries[i].NamespacedKey;
        }

        (ReadOnlyMemory<byte>? Value, EntryHeader Header)[] reads;
        try
        {
            reads = await _cache.ReadManyNamespacedAsync(namespaced, cancellationToken).ConfigureAwait(false);
        }
        catch (RcCacheException ex)
        {
            // The store failed (FailureMode Throw): the loaders still answer.
            LogStoreFailed(_logger, ex);
            reads = new (ReadOnlyMemory<byte>?, EntryHeader)[namespaced.Length];
        }

        // Lookups whose loads have a policy (fail-safe, timeouts, eager refresh, fleet) go through the cache's loader,
        // key by key; the others resolve and load as rc's batch does, and are written back together.
        var now = _cache.NowMilliseconds;
        List<BatchEntry>? misses = null;
        List<int>? managed = null;
        for (var i = 0; i < reads.Length; i++)
        {
            LoadPolicy policy;
            try
            {
                policy = _cache.Loader.Resolve(entries[i].Options);
            }
            catch (ArgumentException ex)
            {
                entries[i].Fail(ex);
                continue;
            }

            if (!policy.IsPlain)
            {
                (managed ??= []).Add(i);
            }
            else if (reads[i].Value is not { } bytes || reads[i].Header.IsStaleAt(now) || !entries[i].TryResolve(_cache, bytes.Span))
            {
                (misses ??= []).Add(entries[i]);
            }
        }

        var throughLoader = managed is null ? Task.CompletedTask : LoadThroughLoaderAsync(entries, reads, managed, cancellationToken);

        // A tag's version is read before the values that carry it are loaded: an invalidation in between must win.
        TagVersions? versions = null;
        var tags = misses?.SelectMany(static e => e.Options?.Tags ?? []).Distinct(StringComparer.Ordinal).ToArray() ?? [];
        if (tags.Length > 0)
        {
            try
            {
                versions = await _cache.ReadTagVersionsAsync(tags, cancellationToken).ConfigureAwait(false);
            }
            catch (RcCacheException ex)
            {
                // Without the versions, tagged values cannot be written safely: they are answered, not stored.
                LogStoreFailed(_logger, ex);
            }
        }

        var writes = new List<PendingWrite>();
        if (misses is not null)
        {
            var loads = misses.GroupBy(static e => e.LoaderIdentity).Select(static g => g.ToArray()).ToArray();
            await Parallel.ForEachAsync(
                loads,
                new ParallelOptions { MaxDegreeOfParallelism = _concurrency, CancellationToken = cancellationToken },
                async (group, token) =>
                {
                    var loaded = await group[0].LoadAsync(_cache, group, token).ConfigureAwait(false);
                    lock (writes)
                    {
                        writes.AddRange(loaded
                            .Where(w => versions is not null || w.Entry.Options?.Tags is not { Count: > 0 })
                            .Select(w => new PendingWrite(w.Entry.NamespacedKey, w.Bytes, _cache.Timing(w.Entry.Options), w.Entry.Options?.Tags)));
                    }
                }).ConfigureAwait(false);
        }

        if (writes.Count > 0)
        {
            try
            {
                await _cache.SetManyNamespacedAsync(writes, versions, CancellationToken.None).ConfigureAwait(false);
            }
            catch (RcCacheException ex)
            {
                LogStoreFailed(_logger, ex);
            }
        }

        await throughLoader.ConfigureAwait(false);
        if (_metrics.BatchEnabled)
        {
            var roundTrips = _cache.RoundTrips(namespaced) + _cache.RoundTrips(writes.ConvertAll(static w => w.Key));
            _metrics.BatchFlushed(_cache.StoreKind, entries.Count, roundTrips);
        }
    }
}
