using System.Runtime.InteropServices;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.ObjectPool;
using Microsoft.Extensions.Options;
using RcAspNet.Caching;
using RcAspNet.Diagnostics;

namespace RcAspNet.Batching;

/// <summary>The request-scoped <see cref="IRcBatch"/> over the default cache.</summary>
internal sealed partial class RcBatch : IRcBatch, IAsyncDisposable
{
    /// <summary>
    /// Queues, kept across requests: a request that queues a hundred lookups would otherwise grow a key table and a list
    /// from empty, which costs a flush more bytes than its MGET's replies.
    /// </summary>
    private static readonly ObjectPool<Lookups> s_lookups = new DefaultObjectPool<Lookups>(new DefaultPooledObjectPolicy<Lookups>());

    /// <summary>The batch whose flush runs the current loader, if any (<see cref="AsLoaderAsync"/>).</summary>
    private static readonly AsyncLocal<RcBatch?> s_loading = new();

    private readonly RcCache _cache;
    private readonly RcMetrics _metrics;
    private readonly ILogger _logger;
    private readonly int _concurrency;
    private readonly Lock _lock = new();
    private readonly CancellationTokenSource _ended = new(); // what the flushes' work stops on: the batch's end, not a caller's token
    private Lookups? _queue;
    private readonly List<FlushWork> _running = []; // under _lock: the flushes that have not resolved all they took
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
        _logger = new QuietLogger(logger);
        _concurrency = options.Value.BatchConcurrency;
    }

    /// <summary>Flushes the batch for a handle: waits for what it takes, not for earlier flushes (<see cref="RcPromise{T}.ResolveAsync"/>).</summary>
    internal Task FlushForHandleAsync(CancellationToken cancellationToken) => FlushCoreAsync(waitForEarlier: false, cancellationToken);

    /// <summary>Gets whether the current flow runs a loader of this batch (<see cref="AsLoaderAsync"/>), which its flush waits for.</summary>
    internal bool IsLoading => s_loading.Value == this;

    /// <summary>Gets how many lookups wait for the next flush.</summary>
    internal int PendingCount
    {
        get
        {
            lock (_lock)
            {
                return _queue?.Entries.Count ?? 0;
            }
        }
    }

    public RcPromise<T> Load<T>(string key, Func<CancellationToken, ValueTask<T>> loader, RcEntryOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(loader);
        var namespaced = _cache.NamespacedKey(key);
        _cache.Keyspace.CheckTags(options?.Tags);
        lock (_lock)
        {
            ref var queued = ref Slot(namespaced);
            return queued is BatchEntry<T> same ? same.Promise : Enqueue(ref queued, new SingleEntry<T>(key, namespaced, options, this, loader));
        }
    }

    public RcPromise<T> Load<TArg, T>(string name, TArg argument, Func<IReadOnlyList<TArg>, CancellationToken, ValueTask<IReadOnlyDictionary<TArg, T>>> loadMany, RcEntryOptions? options = null)
        where TArg : notnull
    {
        ArgumentNullException.ThrowIfNull(argument);
        ArgumentNullException.ThrowIfNull(loadMany);
        var key = RcKey.For(name, argument);
        var namespaced = _cache.NamespacedKey(key);
        _cache.Keyspace.CheckTags(options?.Tags);
        lock (_lock)
        {
            ref var queued = ref Slot(namespaced);
            return queued is BatchEntry<T> same ? same.Promise : Enqueue(ref queued, new ManyEntry<TArg, T>(key, namespaced, options, this, argument, loadMany));
        }
    }

    public Task FlushAsync(CancellationToken cancellationToken = default) => FlushCoreAsync(waitForEarlier: true, cancellationToken);

    /// <summary>
    /// Takes what is queued and resolves it. The resolution is shared (another caller may wait for any lookup it took,
    /// <see cref="FlushWork"/>): the caller's token bounds its own wait, and cancels the flush's loaders only when no
    /// one else waits for it. A token that fired before the call takes nothing.
    /// </summary>
    private async Task FlushCoreAsync(bool waitForEarlier, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        BatchEntry[] entries = [];
        FlushWork? work = null;
        FlushWork[] earlier;
        lock (_lock)
        {
            cancellationToken.ThrowIfCancellationRequested();
            // Lookups that another caller's flush took and is still resolving were queued before this call too: it
            // returns once they are resolved as well, so that every handle queued before it can be read (unless it is
            // made by a loader those flushes run, which they wait for).
            earlier = _running.Count == 0 ? [] : [.. _running];
            if (_queue is { Entries.Count: > 0 } queue)
            {
                entries = queue.Take();
                work = new FlushWork(_ended.Token);
                _running.Add(work);

                // Under the lock: a caller that resolves one of these, finds the queue empty and then no flush to wait
                // for would read a lookup not resolved yet.
                foreach (var entry in entries)
                {
                    entry.TakenBy(work);
                }
            }
        }

        if (work is not null)
        {
            var resolving = ResolveTakenAsync(entries, work);
            try
            {
                await work.WaitAsync(resolving, joined: true, IsLoading, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Its failure, if it fails, reaches the handles: observed here, since this caller no longer waits for it.
                _ = resolving.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                throw;
            }
        }

        if (waitForEarlier && earlier.Length > 0 && !IsLoading)
        {
            await Task.WhenAll(earlier.Select(e => e.WaitAsync(e.Done, joined: false, inLoader: false, cancellationToken))).ConfigureAwait(false);
        }
    }

    private async Task ResolveTakenAsync(BatchEntry[] entries, FlushWork work)
    {
        try
        {
            await ResolveAsync(entries, work.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // Cancelled, or a failure this flush did not expect: no handle may stay pending.
            foreach (var entry in entries)
            {
                entry.Fail(ex);
            }

            throw;
        }
        finally
        {
            lock (_lock)
            {
                _running.Remove(work);
            }

            work.Complete();
        }
    }

    /// <summary>
    /// Runs a loader of this batch's lookups. A flush it makes (a loader may batch lookups of its own) must not wait for
    /// the flush that runs it, which waits for it (<see cref="FlushAsync"/>): marked here, around the loader itself, the
    /// mark reaches it however it runs (a load with a policy runs its factory detached, without the flush's context).
    /// </summary>
    internal async ValueTask<TResult> AsLoaderAsync<TResult>(Func<CancellationToken, ValueTask<TResult>> loader, CancellationToken cancellationToken)
    {
        s_loading.Value = this;
        return await loader(cancellationToken).ConfigureAwait(false);
    }

    public ValueTask DisposeAsync()
    {
        BatchEntry[] abandoned = [];
        lock (_lock)
        {
            if (_disposed)
            {
                return default;
            }

            _disposed = true;
            if (_queue is { } queue)
            {
                abandoned = queue.Take();
                _queue = null;
                s_lookups.Return(queue);
            }
        }

        foreach (var entry in abandoned)
        {
            entry.Fail(new InvalidOperationException(
                "The request ended before this batched lookup was flushed: await its handle, or IRcBatch.FlushAsync(), before the response is complete."));
        }

        // A flush still running stops (its loaders see their token fire).
        _ended.Cancel();
        return default;
    }

    /// <summary>
    /// The queued lookup of a key, found or added with one hash of it: a key queued twice is fetched and loaded once, the
    /// second lookup sharing the first one's handle (of the same type; one of another type is fetched on its own).
    /// </summary>
    private ref BatchEntry? Slot(string namespacedKey)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return ref CollectionsMarshal.GetValueRefOrAddDefault((_queue ??= s_lookups.Get()).Keys, namespacedKey, out _);
    }

    private RcPromise<T> Enqueue<T>(ref BatchEntry? queued, BatchEntry<T> entry)
    {
        queued ??= entry;
        _queue!.Entries.Add(entry);
        return entry.Promise;
    }

    /// <summary>
    /// Resolves lookups through the cache's loader, all at once: single loaders run at most
    /// <see cref="RcOptions.BatchConcurrency"/> at a time, and the misses of a load-many loader share one call of it.
    /// </summary>
    private async Task LoadThroughLoaderAsync(BatchEntry[] entries, (ReadOnlyMemory<byte>? Value, EntryHeader Header, byte[]? Entry)[] reads, long loadsEndedAtRead, List<int> managed, CancellationToken cancellationToken)
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
                tasks.Add(entries[i].LoadThroughAsync(_cache, reads[i].Value, reads[i].Header, loadsEndedAtRead, shared, loads, cancellationToken));
            }
        }

        await Task.WhenAll(tasks).ConfigureAwait(false);
    }

    private async Task ResolveAsync(BatchEntry[] entries, CancellationToken cancellationToken)
    {
        var namespaced = new string[entries.Length];
        for (var i = 0; i < namespaced.Length; i++)
        {
            namespaced[i] = entries[i].NamespacedKey;
        }

        // Lookups whose loads have a policy (fail-safe, timeouts, eager refresh, fleet) go through the cache's loader,
        // key by key, from what the read found even past its freshness; the others resolve and load as rc's batch does,
        // and are written back together. Only a flush with the former reads every entry's header. A lookup without
        // options has the cache's own policy, resolved once: resolved per lookup, policies took 1 % of the samples of
        // 100-lookup flushes (perf of batch --only batch, StackExchange.Redis 3.4.35).
        var plainByDefault = _cache.Loader.Resolve(null).IsPlain;
        Route[]? routes = null; // null: every lookup is plain
        List<int>? managed = null;
        for (var i = 0; i < entries.Length; i++)
        {
            var route = plainByDefault ? Route.Plain : Route.Loader;
            if (entries[i].Options is { } options)
            {
                try
                {
                    route = _cache.Loader.Resolve(options).IsPlain ? Route.Plain : Route.Loader;
                }
                catch (ArgumentException ex)
                {
                    entries[i].Fail(ex);
                    route = Route.Failed;
                }
            }

            if (route != Route.Plain)
            {
                (routes ??= new Route[entries.Length])[i] = route;
                if (route == Route.Loader)
                {
                    (managed ??= []).Add(i);
                }
            }
        }

        // Without a managed lookup the entries are read as stored and each is opened where it is resolved (no array
        // of values in between); with one, every value is read with its header, even past its freshness.
        byte[]?[]? stored = null;
        (ReadOnlyMemory<byte>? Value, EntryHeader Header, byte[]? Entry)[] reads = [];
        var now = 0L;
        var loadsEndedAtRead = _cache.Loader.LoadsEnded;
        var readFailed = false;
        try
        {
            if (managed is not null)
            {
                reads = await _cache.ReadManyNamespacedAsync(namespaced, cancellationToken).ConfigureAwait(false);
                now = _cache.NowMilliseconds;
            }
            else
            {
                stored = await _cache.ReadEntriesAsync(namespaced, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (RcCacheException ex)
        {
            // The store failed (FailureMode Throw): the loaders still answer.
            LogStoreFailed(_logger, ex);
            reads = new (ReadOnlyMemory<byte>?, EntryHeader, byte[]?)[managed is null ? 0 : namespaced.Length];
            readFailed = true;
        }

        List<BatchEntry>? misses = null;
        var hits = 0;
        for (var i = 0; i < entries.Length; i++)
        {
            var fresh = stored is not null ? _cache.Fresh(namespaced[i], stored[i])
                : i < reads.Length && !reads[i].Header.IsStaleAt(now) ? reads[i].Value
                : null;
            hits += fresh is null ? 0 : 1;

            // What a load's write must still find.
            entries[i].ReadEntry = stored is not null ? stored[i] : i < reads.Length ? reads[i].Entry : null;
            entries[i].ReadUnknown = readFailed;
            if ((routes is null || routes[i] == Route.Plain) && (fresh is not { } bytes || !entries[i].TryResolve(_cache, bytes.Span)))
            {
                (misses ??= []).Add(entries[i]);
            }
        }

        if (stored is not null)
        {
            _cache.CountReads(hits, stored.Length);
        }

        var throughLoader = managed is null ? Task.CompletedTask : LoadThroughLoaderAsync(entries, reads, loadsEndedAtRead, managed, cancellationToken);

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

        if (misses is not null)
        {
            await LeaseAsync(misses, readFailed, cancellationToken).ConfigureAwait(false);
        }

        var writes = new List<PendingWrite>();
        var watched = new List<string>();
        try
        {
            if (misses is not null)
            {
                var loads = misses.GroupBy(static e => e.LoaderIdentity).Select(static g => g.ToArray()).ToArray();
                await Parallel.ForEachAsync(
                    loads,
                    new ParallelOptions { MaxDegreeOfParallelism = _concurrency, CancellationToken = cancellationToken },
                    async (group, token) =>
                    {
                        // Each key's change mark as its load begins, watched until it is written: a removal or
                        // replacement made by this process while the loader runs is not written over.
                        foreach (var entry in group)
                        {
                            _cache.Keyspace.Watch(entry.NamespacedKey);
                            lock (watched)
                            {
                                watched.Add(entry.NamespacedKey);
                            }

                            entry.ChangeMark = _cache.Keyspace.ChangeMark(entry.NamespacedKey);
                        }

                        var loaded = await group[0].LoadAsync(_cache, group, token).ConfigureAwait(false);
                        lock (writes)
                        {
                            writes.AddRange(loaded
                                .Where(w => versions is not null || w.Entry.Options?.Tags is not { Count: > 0 })
                                .Select(w => new PendingWrite(w.Entry.NamespacedKey, w.Bytes, _cache.Timing(w.Entry.Options), w.Entry.Options?.Tags, w.Entry.ChangeMark, w.Entry.Lease, w.Entry.ReadUnknown ? null : CacheNamespace.Expectation(w.Entry.ReadEntry))));
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
        }
        finally
        {
            foreach (var key in watched)
            {
                _cache.Keyspace.Unwatch(key);
            }
        }

        await throughLoader.ConfigureAwait(false);
        if (_metrics.BatchEnabled)
        {
            var roundTrips = _cache.RoundTrips(namespaced) + _cache.RoundTrips(writes.ConvertAll(static w => w.Key));
            _metrics.BatchFlushed(_cache.StoreKind, entries.Length, roundTrips);
        }
    }

    /// <summary>
    /// Takes the fill leases of the misses before their loaders run, one round trip per server, so that what they load
    /// is not written over another process's removal made meanwhile (<see cref="CacheNamespace.LeaseManyAsync"/>). When
    /// the store fails (FailureMode Throw), or failed the flush's read, the misses are answered, not written.
    /// </summary>
    private async Task LeaseAsync(List<BatchEntry> misses, bool readFailed, CancellationToken cancellationToken)
    {
        string?[]? tokens = readFailed ? [.. misses.Select(static _ => CacheNamespace.LeaseUnavailable)] : null;
        try
        {
            tokens ??= await _cache.Keyspace.LeaseManyAsync([.. misses.Select(static e => e.NamespacedKey)], cancellationToken).ConfigureAwait(false);
        }
        catch (RcCacheException ex)
        {
            LogStoreFailed(_logger, ex);
            tokens = [.. misses.Select(static _ => CacheNamespace.LeaseUnavailable)];
        }

        for (var i = 0; tokens is not null && i < misses.Count; i++)
        {
            misses[i].Lease = tokens[i];
        }
    }

    /// <summary>How a flush resolves a lookup.</summary>
    private enum Route : byte
    {
        /// <summary>From the read, loaded with the flush's other misses and written back together.</summary>
        Plain,

        /// <summary>Through the cache's loader (its policy: fail-safe, timeouts, eager refresh, fleet).</summary>
        Loader,

        /// <summary>Not at all: its options are invalid, and it failed.</summary>
        Failed,
    }

    /// <summary>The lookups queued for the next flush, and each key's first one.</summary>
    internal sealed class Lookups : IResettable
    {
        /// <summary>The most keys a returned queue may have held: a rare huge batch does not pin its tables for good.</summary>
        internal const int MostKeysKept = 4096;

        public Dictionary<string, BatchEntry?> Keys { get; } = new(StringComparer.Ordinal);

        public List<BatchEntry> Entries { get; } = [];

        /// <summary>Takes every queued lookup, leaving the queue empty (and its tables grown).</summary>
        public BatchEntry[] Take()
        {
            var taken = Entries.ToArray();
            Entries.Clear();
            Keys.Clear();
            return taken;
        }

        public bool TryReset()
        {
            Entries.Clear();
            Keys.Clear();
            return Entries.Capacity <= MostKeysKept;
        }
    }
}
