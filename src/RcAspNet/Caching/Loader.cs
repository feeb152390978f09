using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using RcAspNet.Stores;

namespace RcAspNet.Caching;

/// <summary>
/// How a cache loads what it misses, for <c>GetOrSetAsync</c>, <c>[RcCached]</c> and batch loads alike:
/// <list type="bullet">
/// <item>single flight: concurrent misses of a key in this process share one factory run, and with
/// <see cref="RcStampedeProtection.Fleet"/> one caller in the fleet runs it, under a lock beside the key that its holder
/// renews while the factory runs; the others wait for its value (woken by the near cache's link, else polling with
/// backoff), and one of them takes over when the lock lapses without a value;</item>
/// <item>fail-safe: an entry past its freshness but within <c>FailSafe:MaxDuration</c> is the fallback when the factory
/// fails or exceeds its soft timeout, or for <c>ThrottleDuration</c> after such a failure; it is confirmed in the store
/// before it is served, so a removal that lands while the factory runs takes the fallback with it;</item>
/// <item>timeouts: past the soft timeout a caller with a fallback gets it, past the hard timeout any caller stops
/// waiting; the factory goes on, and its result is stored;</item>
/// <item>eager refresh: a hit past the threshold of its lifetime starts one refresh in the background.</item>
/// </list>
/// A store failure is never a factory failure: it degrades, or throws <see cref="RcCacheException"/>, as the store says.
/// </summary>
internal sealed partial class Loader(CacheNamespace keyspace, LoadSettings settings, ILogger logger)
{
    private const int ThrottleSweepAt = 1024;
    private static readonly TimeSpan FirstPoll = TimeSpan.FromMilliseconds(10);
    private static readonly TimeSpan LastPoll = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan FirstPollWhenLinked = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan LastPollWhenLinked = TimeSpan.FromSeconds(1);

    private readonly ConcurrentDictionary<string, object> _loads = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _throttled = new(StringComparer.Ordinal);

    // How many loads have ended in this cache, and for each stripe of keys the count when the last of its loads ended
    // (see LoadsEnded).
    private readonly long[] _endedAt = new long[KeyStripes.Count];
    private long _loadsEnded;
    private int _sweepAt = ThrottleSweepAt;

    /// <summary>
    /// Gets or sets how long a fleet lock lives unless its holder renews it (every third of it, while its factory runs):
    /// how soon a waiter takes over from a holder that died.
    /// </summary>
    internal TimeSpan LockLifetime { get; set; } = TimeSpan.FromSeconds(5);

    public LoadSettings Settings => settings;

    /// <summary>How many callers wait for the load of the namespaced key under way, or 0 when none runs (for tests).</summary>
    internal int Waiters<T>(string namespacedKey) =>
        _loads.TryGetValue(namespacedKey, out var load) && load is InFlightLoad<T> shared ? shared.Waiters : 0;

    /// <summary>Whether a load of the namespaced key runs in this process now (for tests).</summary>
    internal bool IsLoading(string namespacedKey) => _loads.ContainsKey(namespacedKey);

    /// <summary>
    /// Gets how many loads have ended in this cache. A request records it before the read it is answered from
    /// (<see cref="LoadRequest{T}.LoadsEndedAtRead"/>): a load of its key (or of one of the keys sharing its stripe, a
    /// 1,024th of them) that ended after that read began, and before this request could join it, makes the request's own
    /// load read the key again before its factory runs, rather than run it a second time for a value already stored.
    /// </summary>
    public long LoadsEnded => Volatile.Read(ref _loadsEnded);

    public LoadPolicy Resolve(RcEntryOptions? options) => settings.Resolve(options);

    /// <summary>
    /// The timing of an entry written with <paramref name="options"/>: its expiration (the cache's default when it sets
    /// none), tracked and kept for its fail-safe window when its policy needs it.
    /// </summary>
    public EntryTiming Timing(RcEntryOptions? options) => Timing(options, Resolve(options));

    public EntryTiming Timing(RcEntryOptions? options, in LoadPolicy policy)
    {
        var expiration = options?.Expiration ?? keyspace.DefaultExpiration;
        if (expiration <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(options), expiration, "RcEntryOptions.Expiration must be positive.");
        }

        return policy.TracksFreshness ? EntryTiming.For(expiration) with { Tracked = true, Grace = policy.FailSafe } : EntryTiming.For(expiration);
    }

    /// <summary>Returns the key's value; on a miss (or past its freshness), loads it as the call's policy says.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<Loaded<T>> GetOrLoadAsync<T>(LoadRequest<T> request, CancellationToken cancellationToken)
    {
        request.LoadsEndedAtRead = LoadsEnded;
        request.ReadEntry = await keyspace.ReadEntryAsync(request.NamespacedKey, cancellationToken).ConfigureAwait(false);
        var (bytes, header) = keyspace.Open(request.NamespacedKey, request.ReadEntry, count: true);
        return await AnswerAsync(request, bytes, header, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Answers from what a read found (by this call, or by a batch's MGET): a fresh hit, else a load with or without a fallback.</summary>
    public ValueTask<Loaded<T>> AnswerAsync<T>(LoadRequest<T> request, ReadOnlyMemory<byte>? bytes, in EntryHeader header, CancellationToken cancellationToken)
    {
        if (bytes is not { } found || !request.Decode(found, out var value))
        {
            return LoadAsync(request, fallback: null, cancellationToken);
        }

        var now = keyspace.NowMilliseconds;
        if (!header.IsStaleAt(now))
        {
            if (request.Policy.EagerRefresh > 0 && request.Refreshes && header.AgeFraction(now) >= request.Policy.EagerRefresh)
            {
                RefreshInBackground(request, header.WrittenAt);
            }

            request.Settle();
            return new(new Loaded<T>(value!, LoadOutcome.Hit));
        }

        if (!IsFallback(header, now, request.Policy))
        {
            return LoadAsync(request, fallback: null, cancellationToken);
        }

        if (IsThrottled(request.NamespacedKey, now))
        {
            request.Settle();
            return new(Stale(request, value!, "throttled"));
        }

        return LoadAsync(request, new Fallback<T>(value!), cancellationToken);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<Loaded<T>> LoadAsync<T>(LoadRequest<T> request, Fallback<T>? fallback, CancellationToken cancellationToken)
    {
        var policy = request.Policy;
        var load = Join(request, newerThan: 0, policy.MayOutliveCaller);
        var hard = policy.HardTimeout;

        // A soft timeout applies to a caller with a fallback, and only before the hard one.
        var soft = fallback is not null && policy.SoftTimeout > TimeSpan.Zero && (hard <= TimeSpan.Zero || policy.SoftTimeout < hard) ? policy.SoftTimeout : TimeSpan.Zero;
        try
        {
            var done = false;
            if (soft > TimeSpan.Zero)
            {
                done = await load.TryWaitAsync(soft, keyspace.Time, cancellationToken).ConfigureAwait(false);
                if (!done)
                {
                    LogFactoryTimedOut(logger, keyspace.Name, "soft_timeout", soft);
                    StopWaiting(load);
                    if (await ConfirmAsync(request, fallback!).ConfigureAwait(false) is { } confirmed)
                    {
                        return confirmed.Outcome == LoadOutcome.Stale ? Stale(request, confirmed.Value, "soft_timeout") : confirmed;
                    }

                    // The fallback was removed meanwhile: this caller waits as one without it, up to the hard timeout.
                }
            }

            if (!done && hard > TimeSpan.Zero && !await load.TryWaitAsync(hard - soft, keyspace.Time, cancellationToken).ConfigureAwait(false))
            {
                LogFactoryTimedOut(logger, keyspace.Name, "hard_timeout", hard);

                // Past the hard timeout the factory is taken for hung (a slow one is waited for past a soft timeout:
                // joining it spares its source a second run). Under Fleet, a load of its own would only wait for the
                // fleet's lock, which the hung one holds (up to RenewalLimit): it is joined still.
                if (!policy.Fleet)
                {
                    load.GiveUp();
                }
                StopWaiting(load);
                if (fallback is not null && await ConfirmAsync(request, fallback).ConfigureAwait(false) is { } confirmed)
                {
                    return confirmed.Outcome == LoadOutcome.Stale ? Stale(request, confirmed.Value, "hard_timeout") : confirmed;
                }

                throw new TimeoutException(
                    $"The factory of a cache entry ran past FactoryHardTimeout ({hard}) and no fallback exists; it goes on, and its result is stored when it completes.");
            }

            return new(await load.WaitAsync(cancellationToken).ConfigureAwait(false), LoadOutcome.Loaded);
        }
        catch (Exception ex) when (fallback is not null && IsFactoryFailure(ex, cancellationToken))
        {
            var found = await ConfirmAsync(request, fallback).ConfigureAwait(false);
            if (found is null)
            {
                // The fallback was removed (or replaced and gone) meanwhile: there is nothing to serve but the failure.
                ExceptionDispatchInfo.Throw(ex);
            }

            var confirmed = found.Value;

            if (confirmed.Outcome != LoadOutcome.Stale)
            {
                return confirmed;
            }

            if (ex is not RequestEndedException)
            {
                // A factory that gave up because its request ended says nothing of its source: the next caller tries it.
                Throttle(request.NamespacedKey, policy.Throttle);
                LogFailSafe(logger, keyspace.Name, ex.GetType().Name, policy.Throttle);
            }

            return Stale(request, confirmed.Value, "factory_failed");
        }
    }

    /// <summary>
    /// Joins the load of the key under way in this process, or starts one (a load of another type runs on its own; one
    /// whose callers all left is replaced, so that the callers after it share the new one). A load that may outlive its
    /// caller (<paramref name="detached"/>) runs without the caller's execution context: nothing of a request it
    /// outlives (its failure budget, its HttpContext) follows it.
    /// </summary>
    private InFlightLoad<T> Join<T>(LoadRequest<T> request, long newerThan, bool detached)
    {
        var key = request.NamespacedKey;
        InFlightLoad<T>? own = null;
        while (true)
        {
            bool registered;
            if (_loads.TryGetValue(key, out var running))
            {
                // One begun before this process changed the key, or invalidated one of its tags, or one of other tags,
                // is not joined: what it loads may predate the change.
                if (running is InFlightLoad<T> shared && shared.ChangeMark == keyspace.ChangeMark(key) && SameTags(shared.Tags, request.Tags) && shared.TagMark == keyspace.TagMark(shared.Tags) && shared.TryJoin())
                {
                    if (own is not null)
                    {
                        keyspace.Unwatch(key, own.Tags);
                    }

                    request.Settle();
                    return shared;
                }

                // One whose callers all left or one gave up on, or begun before a change, is replaced; one of another type
                // stays, and this one runs unregistered.
                own ??= NewLoad(request);
                registered = running is InFlightLoad<T>;
                if (registered && !_loads.TryUpdate(key, own, running))
                {
                    continue;
                }
            }
            else if (!(registered = _loads.TryAdd(key, own ??= NewLoad(request))))
            {
                continue;
            }

            var load = own;
            if (!TryStarting(request, key, load))
            {
                return load;
            }

            request.ChangeMark = load.ChangeMark;

            // A load of the key (or of one sharing its stripe) that ended since this request's read began, or one this
            // request could not join (replaced, or of another type), may have stored what that read did not see.
            var reread = running is not null || Volatile.Read(ref _endedAt[KeyStripes.Of(key)]) > request.LoadsEndedAtRead;
            Func<CancellationToken, Task<T>> work = token => WorkAsync(request, newerThan, reread, token);
            Start(() => RunAsync(key, load, work), detached);
            return load;
        }
    }

    /// <summary>
    /// Runs what the request does as its load starts (<see cref="LoadRequest{T}.Starting"/>); when that throws, the load
    /// ends with its exception, as if its work had thrown: out of the table, its key unwatched, its joiners answered.
    /// </summary>
    private bool TryStarting<T>(LoadRequest<T> request, string key, InFlightLoad<T> load)
    {
        try
        {
            request.Starting?.Invoke();
            return true;
        }
        catch (Exception ex)
        {
            _ = RunAsync(key, load, _ => Task.FromException<T>(ex));
            return false;
        }
    }

    /// <summary>A load of the request's key, about to begin: it watches the key and its tags until it ends (<see cref="RunAsync"/>).</summary>
    private InFlightLoad<T> NewLoad<T>(LoadRequest<T> request)
    {
        // A copy of the caller's tags: a list it changes while the load runs must not make the load release other tags
        // than it watched.
        IReadOnlyList<string>? tags = request.Tags is { Count: > 0 } given ? [.. given] : null;
        keyspace.Watch(request.NamespacedKey, tags);
        return new InFlightLoad<T> { ChangeMark = keyspace.ChangeMark(request.NamespacedKey), TagMark = keyspace.TagMark(tags), Tags = tags };
    }

    /// <summary>Whether two loads of a key carry the same tags (a load of other tags may predate an invalidation of this one's).</summary>
    private static bool SameTags(IReadOnlyList<string>? a, IReadOnlyList<string>? b) =>
        (a is null || a.Count == 0) ? b is null || b.Count == 0 : b is not null && a.SequenceEqual(b, StringComparer.Ordinal);

    /// <summary>Starts a load: in the caller's execution context, or, when it may outlive the caller, in none.</summary>
    private static void Start(Func<Task> run, bool detached)
    {
        if (!detached)
        {
            _ = run();
            return;
        }

        using (ExecutionContext.SuppressFlow())
        {
            _ = Task.Run(run);
        }
    }

    /// <summary>A load no caller waits for any more: its failure is logged, never left unobserved.</summary>
    private void StopWaiting<T>(InFlightLoad<T> load)
    {
        if (load.StopWaiting() is { } failure)
        {
            LogRefreshFailed(logger, failure.GetType().Name);
        }
    }

    /// <summary>One refresh per key in this process (and per fleet with <c>Fleet</c>), that no reader waits for.</summary>
    private void RefreshInBackground<T>(LoadRequest<T> request, long writtenAt)
    {
        if (_loads.ContainsKey(request.NamespacedKey) || IsThrottled(request.NamespacedKey, keyspace.NowMilliseconds))
        {
            // Under way already: a hit on a hot key does not take the namespace's lock of watches to back out. Or a
            // refresh failed within ThrottleDuration: a source that is down is not tried on every hit.
            return;
        }

        var load = NewLoad(request);
        if (!_loads.TryAdd(request.NamespacedKey, load))
        {
            keyspace.Unwatch(request.NamespacedKey, load.Tags);
            return;
        }

        request.ChangeMark = load.ChangeMark;

        // The load's first waiter is nobody: a reader that joins it and leaves never cancels it.
        if (!TryStarting(request, request.NamespacedKey, load))
        {
            StopWaiting(load);
            return;
        }

        Start(() => RunAsync(request.NamespacedKey, load, token => RefreshAsync(request, writtenAt, token)), detached: true);
        StopWaiting(load);
    }

    /// <summary>A refresh's work: one that fails throttles the key, as fail-safe does, so that the next hits do not run it again at once.</summary>
    private async Task<T> RefreshAsync<T>(LoadRequest<T> request, long writtenAt, CancellationToken cancellationToken)
    {
        try
        {
            return await WorkAsync(request, writtenAt, reread: false, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsFactoryFailure(ex, cancellationToken))
        {
            Throttle(request.NamespacedKey, request.Policy.Throttle);
            throw;
        }
    }

    /// <summary>Runs a load, and takes it out of the table when it ends (if it is there: one of another type runs outside it).</summary>
    private async Task RunAsync<T>(string namespacedKey, InFlightLoad<T> load, Func<CancellationToken, Task<T>> work)
    {
        try
        {
            if (await load.RunAsync(work).ConfigureAwait(false) is { } unread)
            {
                LogRefreshFailed(logger, unread.GetType().Name);
            }
        }
        finally
        {
            // Counted before the load leaves the table: a request that read before the load stored its value, and that
            // finds no load to join, sees the count and reads again (Join).
            var ended = Interlocked.Increment(ref _loadsEnded);
            ref var stripe = ref _endedAt[KeyStripes.Of(namespacedKey)];
            for (var seen = Volatile.Read(ref stripe); seen < ended;)
            {
                var was = Interlocked.CompareExchange(ref stripe, ended, seen);
                seen = was == seen ? ended : was;
            }

            _loads.TryRemove(new KeyValuePair<string, object>(namespacedKey, load));
            keyspace.Unwatch(namespacedKey, load.Tags);
        }
    }


    private async Task<T> WorkAsync<T>(LoadRequest<T> request, long newerThan, bool reread, CancellationToken cancellationToken)
    {
        try
        {
            if (request.Policy.Fleet)
            {
                // Under the fleet's lock the key is read again anyway.
                return await FleetLoadAsync(request, newerThan, cancellationToken).ConfigureAwait(false);
            }

            // A refresh started by a read that answered before another refresh stored its value (here or on another
            // node) has nothing to do: the entry it would replace is already replaced. Nor has a load whose read began
            // before a load of the key in this process ended, or that found a load it could not join (any fresh value
            // stored meanwhile answers it).
            if ((newerThan > 0 || reread) && await TryReadNewerAsync(request, newerThan, cancellationToken).ConfigureAwait(false) is { } newer)
            {
                return newer.Value;
            }

            return await LoadAndStoreAsync(request, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            request.Settle();
        }
    }

    /// <summary>
    /// Runs the factory and stores what it returns (unless it encodes to nothing). The key's fill lease is taken first,
    /// and a tag's version read, so that a removal of the key by any process, or an invalidation of the tag, in between
    /// wins.
    /// </summary>
    private async Task<T> LoadAndStoreAsync<T>(LoadRequest<T> request, CancellationToken cancellationToken)
    {
        var tags = request.Tags;
        var reading = tags is { Count: > 0 } ? keyspace.ReadTagVersionsAsync(tags, cancellationToken).AsTask() : null;
        FillLease? lease;
        try
        {
            // A load whose read failed (FailureMode=Throw) is answered, not written: it needs no lease.
            lease = request.ReadUnknown ? FillLease.NotTaken
                : await keyspace.LeaseAsync(request.NamespacedKey, CacheNamespace.Expectation(request.ReadEntry), cancellationToken).ConfigureAwait(false);
        }
        catch (RcCacheException)
        {
            // The lease's server failed (FailureMode=Throw): the value is answered, not written, as one whose read failed
            // is. (A fill that fails after a lease was taken surfaces under Throw, to this caller and those that joined.)
            lease = FillLease.NotTaken;
        }
        catch when (reading is not null)
        {
            _ = reading.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            throw;
        }

        var versions = reading is null ? null : await reading.ConfigureAwait(false);
        var value = await request.Factory(cancellationToken).ConfigureAwait(false);
        Succeeded(request.NamespacedKey);
        if (request.Encode(value) is { } bytes)
        {
            var timing = Timing(request.Options, request.Policy);
            await keyspace.FillAsync(request.Key, bytes, timing, tags, versions, request.ChangeMark, lease).ConfigureAwait(false);
        }

        return value;
    }

    /// <summary>
    /// Runs the factory if this caller takes the key's fleet lock, else waits for the holder's value: woken by the near
    /// cache's link when it is on, else polling with backoff, and taking the lock over when it lapses without a value.
    /// <paramref name="newerThan"/> is the write time of the entry a refresh replaces (0 for a miss): only a fresh value
    /// written after it ends the wait.
    /// </summary>
    private async Task<T> FleetLoadAsync<T>(LoadRequest<T> request, long newerThan, CancellationToken cancellationToken)
    {
        var token = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        var delay = FirstPoll;
        while (true)
        {
            // Watched before the lock is asked for: a value stored between the answer and the wait still wakes it.
            var changed = keyspace.WhenChanged(request.NamespacedKey);
            LockTaken taken;
            try
            {
                taken = await keyspace.TryLockAsync(request.NamespacedKey, token, LockLifetime, cancellationToken).ConfigureAwait(false);
            }
            catch (RcCacheException)
            {
                taken = LockTaken.Unavailable;
            }
            catch (OperationCanceledException)
            {
                // The SET may have reached the server: let go of a lock this caller may hold.
                await UnlockQuietlyAsync(request.NamespacedKey, token).ConfigureAwait(false);
                throw;
            }

            if (taken == LockTaken.Unavailable)
            {
                // A store that cannot be asked cannot make anyone wait: load, as without the lock. The SET may still
                // have been applied (its answer was lost): the lock is let go afterwards, so no one waits out its lifetime.
                try
                {
                    return await LoadAndStoreAsync(request, cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    await UnlockQuietlyAsync(request.NamespacedKey, token).ConfigureAwait(false);
                }
            }

            if (taken == LockTaken.Taken)
            {
                return await LoadUnderLockAsync(request, token, newerThan, cancellationToken).ConfigureAwait(false);
            }

            // Another caller loads it: as far as this request is concerned, its factory does not run (unless it takes
            // over). With the near cache's link, its invalidation wakes this waiter, and polls only back it up.
            request.Settle();
            if (changed is not null && delay < FirstPollWhenLinked)
            {
                delay = FirstPollWhenLinked;
            }

            var wait = Task.Delay(delay, cancellationToken);
            await (changed is null ? wait : Task.WhenAny(changed, wait)).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, (changed is null ? LastPoll : LastPollWhenLinked).Ticks));
            if (await ReadNewerAsync(request, newerThan, cancellationToken).ConfigureAwait(false) is { } value)
            {
                return value.Value;
            }
        }
    }

    private async Task UnlockQuietlyAsync(string namespacedKey, string token)
    {
        try
        {
            await keyspace.UnlockAsync(namespacedKey, token).ConfigureAwait(false);
        }
        catch (RcCacheException)
        {
            // Not released: it lapses at the end of its lifetime.
        }
    }

    private async Task<T> LoadUnderLockAsync<T>(LoadRequest<T> request, string token, long newerThan, CancellationToken cancellationToken)
    {
        using var renewal = new CancellationTokenSource();
        Task? renewing = null;
        try
        {
            // The previous holder may have stored its value and let go between this caller's read and its lock.
            if (await ReadNewerAsync(request, newerThan, cancellationToken).ConfigureAwait(false) is { } value)
            {
                return value.Value;
            }

            renewing = RenewAsync(request.NamespacedKey, token, RenewalLimit, renewal.Token);
            return await LoadAndStoreAsync(request, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await renewal.CancelAsync().ConfigureAwait(false);
            if (renewing is not null)
            {
                await renewing.ConfigureAwait(false);
            }

            await UnlockQuietlyAsync(request.NamespacedKey, token).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Gets or sets how long a holder keeps the fleet's lock while its factory runs: as long as its fill may be written at
    /// all (a slow factory keeps it, and the fleet waits for it rather than run the factory again); a hung one lets it go
    /// then, and another node's waiter takes it over.
    /// </summary>
    internal TimeSpan RenewalLimit { get; set; } = FillLease.Lifetime;

    /// <summary>
    /// Keeps the lock while the factory runs, renewing it every third of its lifetime, up to <paramref name="limit"/>,
    /// when it lets it go: a hung factory does not hold the key for the whole fleet. A renewal that fails (the store did
    /// not answer) is tried again at the next one; one that finds the lock lost changes nothing (the compare fails).
    /// </summary>
    private async Task RenewAsync(string namespacedKey, string token, TimeSpan limit, CancellationToken stop)
    {
        var period = LockLifetime / 3;

        // Real time, as the lock's lifetime on the server is (not the cache's clock).
        var since = Stopwatch.GetTimestamp();
        while (!stop.IsCancellationRequested)
        {
            try
            {
                var left = limit - Stopwatch.GetElapsedTime(since);
                if (left <= TimeSpan.Zero)
                {
                    // A unit of work of its own, as a renewal is: not skipped for what the factory's own calls spent.
                    FailureBudget.Open();
                    await UnlockQuietlyAsync(namespacedKey, token).ConfigureAwait(false);
                    return;
                }

                await Task.Delay(period < left ? period : left, stop).ConfigureAwait(false);
                if (Stopwatch.GetElapsedTime(since) < limit)
                {
                    await RenewOnceAsync(namespacedKey, token).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (RcCacheException)
            {
                // The store failed (FailureMode Throw): tried again at the next period.
            }
        }
    }

    /// <summary>
    /// One renewal, as a unit of work of its own: the caller's failure budget (<see cref="FailureBudget"/>) is not the
    /// lock's, and a timeout the factory met on the lock's server must not stop the renewals that keep the fleet waiting.
    /// </summary>
    private async ValueTask RenewOnceAsync(string namespacedKey, string token)
    {
        FailureBudget.Open();
        await keyspace.RenewLockAsync(namespacedKey, token, LockLifetime).ConfigureAwait(false);
    }

    /// <summary>Reads a fresh value of the key written after <paramref name="newerThan"/> (any fresh one for 0), or nothing.</summary>
    private async ValueTask<Fallback<T>?> ReadNewerAsync<T>(LoadRequest<T> request, long newerThan, CancellationToken cancellationToken)
    {
        // What a load after this read writes must still find what this read found (its lease is taken after it).
        request.ReadEntry = await keyspace.ReadEntryAsync(request.NamespacedKey, cancellationToken).ConfigureAwait(false);
        request.ReadUnknown = false;
        var (bytes, header) = keyspace.Open(request.NamespacedKey, request.ReadEntry, count: false);
        return bytes is { } found && !header.IsStaleAt(keyspace.NowMilliseconds) && (newerThan == 0 || header.WrittenAt > newerThan) && request.Decode(found, out var value)
            ? new Fallback<T>(value!)
            : null;
    }

    /// <summary>What <see cref="ReadNewerAsync"/> finds; nothing when the store cannot answer (the load then runs its factory).</summary>
    private async ValueTask<Fallback<T>?> TryReadNewerAsync<T>(LoadRequest<T> request, long newerThan, CancellationToken cancellationToken)
    {
        try
        {
            return await ReadNewerAsync(request, newerThan, cancellationToken).ConfigureAwait(false);
        }
        catch (RcCacheException)
        {
            return null;
        }
    }

    /// <summary>
    /// Reads the key again before a fallback is served: a fresh value (someone stored one) is a hit, a value still
    /// within its fail-safe window is the fallback, and nothing (it was removed) is no fallback. A store that cannot
    /// answer confirms nothing.
    /// </summary>
    private async ValueTask<Loaded<T>?> ConfirmAsync<T>(LoadRequest<T> request, Fallback<T> fallback)
    {
        try
        {
            var (bytes, header) = await keyspace.ReadAsync(request.NamespacedKey, count: false, CancellationToken.None).ConfigureAwait(false);
            var now = keyspace.NowMilliseconds;
            if (bytes is not { } found || !request.Decode(found, out var value))
            {
                return null;
            }

            return !header.IsStaleAt(now) ? new Loaded<T>(value!, LoadOutcome.Hit)
                : IsFallback(header, now, request.Policy) ? new Loaded<T>(value!, LoadOutcome.Stale)
                : null;
        }
        catch (RcCacheException)
        {
            return null;
        }
    }

    /// <summary>Records that the factory succeeded: the key's throttle, if any, ends.</summary>
    private void Succeeded(string namespacedKey)
    {
        if (!_throttled.IsEmpty)
        {
            _throttled.TryRemove(namespacedKey, out _);
        }
    }

    /// <summary>
    /// Serves the key's fallback without trying its factory for <paramref name="duration"/>. Throttles that ended are
    /// swept once many keys are throttled, so a source that fails for many keys leaves no entry behind for long.
    /// </summary>
    private void Throttle(string namespacedKey, TimeSpan duration)
    {
        var now = keyspace.NowMilliseconds;
        if (_throttled.Count >= Volatile.Read(ref _sweepAt))
        {
            foreach (var (key, until) in _throttled)
            {
                if (until <= now)
                {
                    _throttled.TryRemove(new KeyValuePair<string, long>(key, until));
                }
            }

            // Amortized: the next sweep waits until as many throttles again were added.
            Volatile.Write(ref _sweepAt, Math.Max(ThrottleSweepAt, _throttled.Count * 2));
        }

        _throttled[namespacedKey] = now + (long)duration.TotalMilliseconds;
    }

    private bool IsThrottled(string namespacedKey, long now)
    {
        if (_throttled.IsEmpty || !_throttled.TryGetValue(namespacedKey, out var until))
        {
            return false;
        }

        if (until > now)
        {
            return true;
        }

        _throttled.TryRemove(new KeyValuePair<string, long>(namespacedKey, until));
        return false;
    }

    /// <summary>Whether an entry past its freshness may stand in for its value under <paramref name="policy"/>.</summary>
    private static bool IsFallback(in EntryHeader header, long now, in LoadPolicy policy) =>
        header.TracksFreshness && policy.FailSafe > TimeSpan.Zero && now < header.FreshUntil + (long)policy.FailSafe.TotalMilliseconds;

    /// <summary>A failure of the factory (not of the store, and not the caller giving up) is what fail-safe answers.</summary>
    private static bool IsFactoryFailure(Exception ex, CancellationToken cancellationToken) =>
        ex is not RcCacheException && !(ex is OperationCanceledException && cancellationToken.IsCancellationRequested);

    private Loaded<T> Stale<T>(LoadRequest<T> request, T value, string reason)
    {
        keyspace.CountStale(reason);
        LogServedStale(logger, keyspace.Name, reason);
        return new Loaded<T>(value, LoadOutcome.Stale);
    }
}
