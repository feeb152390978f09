using System.Collections.Concurrent;
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
    private static readonly TimeSpan FirstPoll = TimeSpan.FromMilliseconds(10);
    private static readonly TimeSpan LastPoll = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan LastPollWhenLinked = TimeSpan.FromSeconds(1);

    private readonly ConcurrentDictionary<string, object> _loads = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _throttled = new(StringComparer.Ordinal);

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
        var (bytes, header) = await keyspace.ReadAsync(request.NamespacedKey, count: true, cancellationToken).ConfigureAwait(false);
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
            if (request.Policy.EagerRefresh > 0 && header.AgeFraction(now) >= request.Policy.EagerRefresh)
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
        var load = Join(request, newerThan: 0);
        var limit = fallback is not null && policy.SoftTimeout > TimeSpan.Zero ? policy.SoftTimeout : policy.HardTimeout;
        try
        {
            if (limit > TimeSpan.Zero && !await load.TryWaitAsync(limit, keyspace.Time, cancellationToken).ConfigureAwait(false))
            {
                var reason = limit == policy.SoftTimeout && fallback is not null ? "soft_timeout" : "hard_timeout";
                LogFactoryTimedOut(logger, keyspace.Name, reason, limit);
                if (fallback is not null && await ConfirmAsync(request, fallback).ConfigureAwait(false) is { } confirmed)
                {
                    return confirmed.Outcome == LoadOutcome.Stale ? Stale(request, confirmed.Value, reason) : confirmed;
                }

                throw new TimeoutException(
                    $"The factory of a cache entry ran past {(reason == "soft_timeout" ? "its soft timeout" : "FactoryHardTimeout")} ({limit}) and no fallback exists; it goes on, and its result is stored when it completes.");
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

            _throttled[request.NamespacedKey] = keyspace.NowMilliseconds + (long)policy.Throttle.TotalMilliseconds;
            LogFailSafe(logger, keyspace.Name, ex.GetType().Name, policy.Throttle);
            return Stale(request, confirmed.Value, "factory_failed");
        }
    }

    /// <summary>Joins the load of the key under way in this process, or starts one (a load of another type runs on its own).</summary>
    private InFlightLoad<T> Join<T>(LoadRequest<T> request, long newerThan)
    {
        while (true)
        {
            if (_loads.TryGetValue(request.NamespacedKey, out var running))
            {
                if (running is InFlightLoad<T> shared && shared.TryJoin())
                {
                    request.Settle();
                    return shared;
                }

                // A load of another type, or one being cancelled: load on our own.
                var own = new InFlightLoad<T>();
                request.Starting?.Invoke();
                _ = own.RunAsync(token => WorkAsync(request, newerThan, token));
                return own;
            }

            var load = new InFlightLoad<T>();
            if (_loads.TryAdd(request.NamespacedKey, load))
            {
                request.Starting?.Invoke();
                _ = RunAsync(request.NamespacedKey, load, token => WorkAsync(request, newerThan, token));
                return load;
            }
        }
    }

    /// <summary>One refresh per key in this process (and per fleet with <c>Fleet</c>), that no reader waits for.</summary>
    private void RefreshInBackground<T>(LoadRequest<T> request, long writtenAt)
    {
        var load = new InFlightLoad<T>();
        if (!_loads.TryAdd(request.NamespacedKey, load))
        {
            return;
        }

        // The load's first waiter is nobody: a reader that joins it and leaves never cancels it.
        request.Starting?.Invoke();
        _ = RunAsync(request.NamespacedKey, load, token => WorkAsync(request, writtenAt, token));
        _ = load.Task.ContinueWith(
            static (task, state) => LogRefreshFailed((ILogger)state!, task.Exception!.InnerException!.GetType().Name),
            logger,
            CancellationToken.None,
            TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    private async Task RunAsync<T>(string namespacedKey, InFlightLoad<T> load, Func<CancellationToken, Task<T>> work)
    {
        try
        {
            await load.RunAsync(work).ConfigureAwait(false);
        }
        finally
        {
            _loads.TryRemove(new KeyValuePair<string, object>(namespacedKey, load));
        }
    }

    private async Task<T> WorkAsync<T>(LoadRequest<T> request, long newerThan, CancellationToken cancellationToken)
    {
        try
        {
            return request.Policy.Fleet
                ? await FleetLoadAsync(request, newerThan, cancellationToken).ConfigureAwait(false)
                : await LoadAndStoreAsync(request, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            request.Settle();
        }
    }

    /// <summary>Runs the factory and stores what it returns (unless it encodes to nothing); a tag's version is read first, so that an invalidation in between wins.</summary>
    private async Task<T> LoadAndStoreAsync<T>(LoadRequest<T> request, CancellationToken cancellationToken)
    {
        var tags = request.Options?.Tags;
        var versions = tags is { Count: > 0 } ? await keyspace.ReadTagVersionsAsync(tags, cancellationToken).ConfigureAwait(false) : null;
        var value = await request.Factory(cancellationToken).ConfigureAwait(false);
        Succeeded(request.NamespacedKey);
        if (request.Encode(value) is { } bytes)
        {
            var timing = Timing(request.Options, request.Policy);
            if (versions is not null)
            {
                await keyspace.SetTaggedAsync(request.Key, bytes, timing, tags!, versions, replaces: false, CancellationToken.None).ConfigureAwait(false);
            }
            else
            {
                await keyspace.SetAsync(request.Key, bytes, timing, replaces: false, CancellationToken.None).ConfigureAwait(false);
            }
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
            LockTaken taken;
            try
            {
                taken = await keyspace.TryLockAsync(request.NamespacedKey, token, LockLifetime, cancellationToken).ConfigureAwait(false);
            }
            catch (RcCacheException)
            {
                taken = LockTaken.Unavailable;
            }

            if (taken == LockTaken.Unavailable)
            {
                // A store that cannot be asked cannot make anyone wait: load, as without the lock.
                return await LoadAndStoreAsync(request, cancellationToken).ConfigureAwait(false);
            }

            if (taken == LockTaken.Taken)
            {
                return await LoadUnderLockAsync(request, token, newerThan, cancellationToken).ConfigureAwait(false);
            }

            // Another caller loads it: as far as this request is concerned, its factory does not run (unless it takes over).
            request.Settle();
            var changed = keyspace.WhenChanged(request.NamespacedKey);
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

            renewing = RenewAsync(request.NamespacedKey, token, renewal.Token);
            return await LoadAndStoreAsync(request, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await renewal.CancelAsync().ConfigureAwait(false);
            if (renewing is not null)
            {
                await renewing.ConfigureAwait(false);
            }

            try
            {
                await keyspace.UnlockAsync(request.NamespacedKey, token).ConfigureAwait(false);
            }
            catch (RcCacheException)
            {
                // Not released: it lapses at the end of its lifetime.
            }
        }
    }

    /// <summary>Keeps the lock while the factory runs, renewing it every third of its lifetime; stops when it is lost.</summary>
    private async Task RenewAsync(string namespacedKey, string token, CancellationToken stop)
    {
        var period = LockLifetime / 3;
        try
        {
            while (true)
            {
                await Task.Delay(period, stop).ConfigureAwait(false);
                if (!await keyspace.RenewLockAsync(namespacedKey, token, LockLifetime).ConfigureAwait(false))
                {
                    return;
                }
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException || stop.IsCancellationRequested)
        {
            // The lock is not renewed any more (the store failed, or is gone): it lapses, and a waiter may take over.
        }
    }

    /// <summary>Reads a fresh value of the key written after <paramref name="newerThan"/> (any fresh one for 0), or nothing.</summary>
    private async ValueTask<Fallback<T>?> ReadNewerAsync<T>(LoadRequest<T> request, long newerThan, CancellationToken cancellationToken)
    {
        var (bytes, header) = await keyspace.ReadAsync(request.NamespacedKey, count: false, cancellationToken).ConfigureAwait(false);
        return bytes is { } found && !header.IsStaleAt(keyspace.NowMilliseconds) && (newerThan == 0 || header.WrittenAt > newerThan) && request.Decode(found, out var value)
            ? new Fallback<T>(value!)
            : null;
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
