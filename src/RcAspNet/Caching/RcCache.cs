using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;

namespace RcAspNet.Caching;

/// <summary>The typed cache over one namespace: serialization, bypass values and stampede protection on top of <see cref="CacheNamespace"/>.</summary>
internal sealed partial class RcCache : IRcCache
{
    private readonly ConcurrentDictionary<string, object> _loads = new(StringComparer.Ordinal);
    private readonly byte[][] _bypass;
    private readonly byte[][] _bypassTexts;
    private readonly ILogger _logger;

    public RcCache(CacheNamespace keyspace, IRcSerializer serializer, IReadOnlyList<string> bypassValues, ILogger logger)
    {
        Keyspace = keyspace;
        Serializer = serializer;
        _bypassTexts = bypassValues.Select(static v => System.Text.Encoding.UTF8.GetBytes(v.Trim())).ToArray();
        _bypass = _bypassTexts.Select(static v => PythonJson.Format(v)).ToArray();
        _logger = logger;
    }

    /// <summary>Gets the configured bypass values as JSON text, as written in configuration and as rc's serializer writes them.</summary>
    internal IEnumerable<byte[]> BypassTexts => _bypass.Concat(_bypassTexts);

    public string Namespace => Keyspace.Prefix;

    private CacheNamespace Keyspace { get; }

    internal IRcSerializer Serializer { get; }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<T?> GetAsync<T>(string key, CancellationToken cancellationToken = default)
    {
        var value = await Keyspace.GetAsync(key, cancellationToken).ConfigureAwait(false);
        return value is { } bytes && TryDeserialize(bytes.Span, out T? result) ? result : default;
    }

    public async ValueTask<IReadOnlyList<T?>> GetManyAsync<T>(IReadOnlyList<string> keys, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(keys);
        var values = await Keyspace.GetManyAsync(keys, cancellationToken).ConfigureAwait(false);
        var results = new T?[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            if (values[i] is { } bytes && TryDeserialize(bytes.Span, out T? result))
            {
                results[i] = result;
            }
        }

        return results;
    }

    public async ValueTask SetAsync<T>(string key, T value, RcEntryOptions? options = null, CancellationToken cancellationToken = default)
    {
        var bytes = Serializer.Serialize(value);
        if (IsBypass(bytes, options))
        {
            return;
        }

        if (options?.Tags is { Count: > 0 } tags)
        {
            var versions = await Keyspace.ReadTagVersionsAsync(tags, cancellationToken).ConfigureAwait(false);
            await Keyspace.SetTaggedAsync(key, bytes, Timing(options), tags, versions, replaces: true, cancellationToken).ConfigureAwait(false);
            return;
        }

        await Keyspace.SetAsync(key, bytes, Timing(options), replaces: true, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask SetManyAsync<T>(IReadOnlyCollection<KeyValuePair<string, T>> items, RcEntryOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(items);
        var timing = Timing(options);
        var entries = new List<PendingWrite>(items.Count);
        foreach (var (key, value) in items)
        {
            var bytes = Serializer.Serialize(value);
            if (!IsBypass(bytes, options))
            {
                entries.Add(new PendingWrite(key, bytes, timing, options?.Tags));
            }
        }

        var versions = options?.Tags is { Count: > 0 } tags && entries.Count > 0 ? await Keyspace.ReadTagVersionsAsync(tags, cancellationToken).ConfigureAwait(false) : null;
        await Keyspace.SetManyAsync(entries, versions, replaces: true, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<bool> AddAsync<T>(string key, T value, RcEntryOptions? options = null, CancellationToken cancellationToken = default)
    {
        var bytes = Serializer.Serialize(value);
        if (IsBypass(bytes, options))
        {
            return false;
        }

        var versions = options?.Tags is { Count: > 0 } tags ? await Keyspace.ReadTagVersionsAsync(tags, cancellationToken).ConfigureAwait(false) : null;
        return await Keyspace.AddAsync(key, bytes, Timing(options), options?.Tags, versions, cancellationToken).ConfigureAwait(false);
    }

    public ValueTask<RcRemovalResult> DeleteAsync(string key, CancellationToken cancellationToken = default) => Keyspace.DeleteAsync(key, cancellationToken);

    public ValueTask<RcRemovalResult> DeleteManyAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(keys);
        return Keyspace.DeleteManyAsync(keys, cancellationToken);
    }

    public ValueTask<bool> ExistsAsync(string key, CancellationToken cancellationToken = default) => Keyspace.ExistsAsync(key, cancellationToken);

    public ValueTask<long> IncrementAsync(string key, long delta = 1, RcEntryOptions? options = null, CancellationToken cancellationToken = default) =>
        Keyspace.IncrementAsync(key, delta, Timing(options).TimeToLive, cancellationToken);

    public ValueTask<bool> TouchAsync(string key, TimeSpan expiration, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(expiration, TimeSpan.Zero);
        return Keyspace.TouchAsync(key, expiration, cancellationToken);
    }

    public ValueTask<RcRemovalResult> ClearAsync(CancellationToken cancellationToken = default) => Keyspace.ClearAsync(cancellationToken);

    public ValueTask<T> GetOrSetAsync<T>(string key, Func<CancellationToken, ValueTask<T>> factory, RcEntryOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(factory);
        return GetOrSetCoreAsync(key, factory, options, Encode, Decode, cancellationToken);

        bool Decode(ReadOnlyMemory<byte> bytes, out T? value) => TryDeserialize(bytes.Span, out value);

        byte[]? Encode(T value)
        {
            var bytes = Serializer.Serialize(value);
            return IsBypass(bytes, options) ? null : bytes;
        }
    }

    /// <summary>
    /// Cache-aside with stampede protection over any encoding: <paramref name="encode"/> returns the bytes to store,
    /// or null to store nothing; <paramref name="decode"/> reads a hit, false for unreadable bytes (a miss);
    /// the value carries <see cref="RcEntryOptions.Tags"/> when <paramref name="options"/> has them.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    internal async ValueTask<T> GetOrSetCoreAsync<T>(
        string key,
        Func<CancellationToken, ValueTask<T>> factory,
        RcEntryOptions? options,
        Func<T, byte[]?> encode,
        Decoder<T> decode,
        CancellationToken cancellationToken)
    {
        if (!Keyspace.IsValidKey(key))
        {
            // Cache-aside never fails on a key the cache cannot hold: it runs the factory, as HybridCache does.
            LogKeyBypassed(_logger, key?.Length ?? 0);
            return await factory(cancellationToken).ConfigureAwait(false);
        }

        if (await Keyspace.GetAsync(key, cancellationToken).ConfigureAwait(false) is { } bytes && decode(bytes, out var hit))
        {
            return hit!;
        }

        var namespaced = Keyspace.Key(key);
        while (true)
        {
            if (_loads.TryGetValue(namespaced, out var running))
            {
                if (running is InFlightLoad<T> shared && shared.TryJoin())
                {
                    return await shared.WaitAsync(cancellationToken).ConfigureAwait(false);
                }

                // A load of another type, or one being cancelled: load on our own.
                return await LoadAndStoreAsync(key, factory, options, encode, cancellationToken).ConfigureAwait(false);
            }

            var load = new InFlightLoad<T>();
            if (_loads.TryAdd(namespaced, load))
            {
                _ = RunLoadAsync(namespaced, load, token => LoadAndStoreAsync(key, factory, options, encode, token).AsTask());
                return await load.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    public ValueTask<RcRemovalResult> InvalidateAsync(string name, params object?[] args) => DeleteAsync(RcKey.For(name, args));

    public ValueTask<RcRemovalResult> InvalidateAsync(string name, object?[] args, CancellationToken cancellationToken) => DeleteAsync(RcKey.For(name, args), cancellationToken);

    public ValueTask<RcRemovalResult> InvalidateTagAsync(string tag, CancellationToken cancellationToken = default) => Keyspace.InvalidateTagAsync(tag, cancellationToken);

    /// <summary>The Redis connections beneath this cache, for <c>GetRedisConnectionsAsync</c>.</summary>
    internal ValueTask<IReadOnlyDictionary<string, StackExchange.Redis.IConnectionMultiplexer>> GetRedisConnectionsAsync(CancellationToken cancellationToken) =>
        Keyspace.GetRedisConnectionsAsync(cancellationToken);

    /// <summary>How many callers wait for the load of <paramref name="key"/> under way, or 0 when none runs (for tests).</summary>
    internal int LoadWaiters<T>(string key) =>
        _loads.TryGetValue(Keyspace.Key(key), out var load) && load is InFlightLoad<T> shared ? shared.Waiters : 0;

    /// <summary>Gets the name of this cache (<c>default</c>, or its name under <c>Rc:Caches</c>), a telemetry tag.</summary>
    internal string Name => Keyspace.Name;

    /// <summary>Gets the kind of the store beneath, a telemetry tag.</summary>
    internal string StoreKind => Keyspace.StoreKind;

    /// <summary>Whether a key would be accepted (not empty, not over <c>Rc:MaximumKeyLength</c>).</summary>
    internal bool IsValidKey(string key) => Keyspace.IsValidKey(key);

    /// <summary>The key as the store holds it: checked, with the namespace (the batch queues lookups by it).</summary>
    internal string NamespacedKey(string key, string paramName = "key") => Keyspace.Key(key, paramName);

    /// <summary>Reads namespaced keys in one round trip per server, for a batch flush.</summary>
    internal ValueTask<ReadOnlyMemory<byte>?[]> GetManyNamespacedAsync(string[] namespacedKeys, CancellationToken cancellationToken) =>
        Keyspace.GetManyNamespacedAsync(namespacedKeys, cancellationToken);

    /// <summary>Writes entries under namespaced keys in one pipelined write per server, for a batch flush.</summary>
    internal ValueTask SetManyNamespacedAsync(IReadOnlyList<PendingWrite> items, TagVersions? versions, CancellationToken cancellationToken) =>
        Keyspace.SetManyNamespacedAsync(items, versions, replaces: false, cancellationToken);

    /// <summary>Reads the versions of tags before values that carry them are computed.</summary>
    internal ValueTask<TagVersions> ReadTagVersionsAsync(IEnumerable<string> tags, CancellationToken cancellationToken) =>
        Keyspace.ReadTagVersionsAsync(tags, cancellationToken);

    /// <summary>How many store round trips a multi-key call over these namespaced keys costs.</summary>
    internal int RoundTrips(IReadOnlyList<string> namespacedKeys) => Keyspace.RoundTrips(namespacedKeys);

    internal EntryTiming Timing(RcEntryOptions? options)
    {
        var expiration = options?.Expiration ?? Keyspace.DefaultExpiration;
        return expiration > TimeSpan.Zero
            ? EntryTiming.For(expiration)
            : throw new ArgumentOutOfRangeException(nameof(options), expiration, "RcEntryOptions.Expiration must be positive.");
    }

    /// <summary>Whether serialized bytes equal one of the bypass values (the call's, else the configured ones).</summary>
    internal bool IsBypass(byte[] bytes, RcEntryOptions? options)
    {
        if (options?.BypassValues is { } values)
        {
            foreach (var value in values)
            {
                if (bytes.AsSpan().SequenceEqual(Serializer.Serialize(value)))
                {
                    return true;
                }
            }

            return false;
        }

        foreach (var bypass in _bypass)
        {
            if (bytes.AsSpan().SequenceEqual(bypass))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Reads an entry; bytes that are not a <typeparamref name="T"/> (corrupt, or an older type) are a miss, logged without the key.</summary>
    internal bool TryDeserialize<T>(ReadOnlySpan<byte> bytes, out T? value)
    {
        try
        {
            value = Serializer.Deserialize<T>(bytes);
            return true;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogUnreadableEntry(_logger, Keyspace.Prefix, typeof(T).Name, ex.GetType().Name);
            value = default;
            return false;
        }
    }

    private async Task RunLoadAsync<T>(string namespaced, InFlightLoad<T> load, Func<CancellationToken, Task<T>> work)
    {
        try
        {
            await load.RunAsync(work).ConfigureAwait(false);
        }
        finally
        {
            _loads.TryRemove(new KeyValuePair<string, object>(namespaced, load));
        }
    }

    private async ValueTask<T> LoadAndStoreAsync<T>(string key, Func<CancellationToken, ValueTask<T>> factory, RcEntryOptions? options, Func<T, byte[]?> encode, CancellationToken cancellationToken)
    {
        // A tag's version is read before the value is computed: an invalidation in between must win.
        var versions = options?.Tags is { Count: > 0 } tags ? await Keyspace.ReadTagVersionsAsync(tags, cancellationToken).ConfigureAwait(false) : null;
        var value = await factory(cancellationToken).ConfigureAwait(false);
        if (encode(value) is { } bytes)
        {
            if (versions is not null)
            {
                await Keyspace.SetTaggedAsync(key, bytes, Timing(options), options!.Tags!, versions, replaces: false, CancellationToken.None).ConfigureAwait(false);
            }
            else
            {
                await Keyspace.SetAsync(key, bytes, Timing(options), replaces: false, CancellationToken.None).ConfigureAwait(false);
            }
        }

        return value;
    }
}
