using System.Runtime.CompilerServices;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace RcAspNet.Caching;

/// <summary>
/// The typed cache over one namespace: serialization and bypass values on top of <see cref="CacheNamespace"/>, and
/// cache-aside through its <see cref="Loader"/>.
/// </summary>
internal sealed partial class RcCache : IRcCache
{
    private readonly byte[][] _bypass;
    private readonly byte[][] _bypassJson;
    private readonly byte[][] _bypassTexts;
    private readonly ILogger _logger;

    // The default serializer, called directly: through the interface, each call of its generic methods is a generic
    // virtual call, resolved through the runtime's dispatch cache; called directly, it is an ordinary call.
    private readonly RcJsonSerializer? _json;

    public RcCache(CacheNamespace keyspace, IRcSerializer serializer, IReadOnlyList<string> bypassValues, LoadSettings loading, ILogger logger)
    {
        Keyspace = keyspace;
        Loader = new Loader(keyspace, loading, logger);
        Serializer = serializer;
        _json = serializer as RcJsonSerializer;
        _logger = logger;
        _bypassTexts = bypassValues.Select(static v => System.Text.Encoding.UTF8.GetBytes(v.Trim())).ToArray();
        _bypassJson = [.. _bypassTexts.Select(static v => PythonJson.Format(v))];

        // A custom serializer's results are compared with the JSON forms (it may write JSON) and with each value as it
        // writes it (it may not).
        _bypass = _json is not null ? _bypassJson
            : [.. _bypassJson.Concat(_bypassTexts).Concat(bypassValues.Select(SerializedBypass).OfType<byte[]>()).DistinctBy(Convert.ToHexString)];
    }

    /// <summary>Gets the configured bypass values as JSON text, as written in configuration and as rc's serializer writes them.</summary>
    internal IEnumerable<byte[]> BypassTexts => _bypassJson.Concat(_bypassTexts);

    public string Namespace => Keyspace.Prefix;

    internal CacheNamespace Keyspace { get; }

    /// <summary>Gets how this cache loads what it misses (single flight, fail-safe, timeouts, eager refresh).</summary>
    internal Loader Loader { get; }

    internal IRcSerializer Serializer { get; }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<T?> GetAsync<T>(string key, CancellationToken cancellationToken = default)
    {
        var value = await Keyspace.GetAsync(key, cancellationToken).ConfigureAwait(false);
        return value is { } bytes && TryDeserialize(bytes.Span, out T? result) ? result : default;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<IReadOnlyList<T?>> GetManyAsync<T>(IReadOnlyList<string> keys, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(keys);
        var namespaced = Keyspace.Keys(keys);
        var entries = await Keyspace.ReadEntriesAsync(namespaced, cancellationToken).ConfigureAwait(false);
        var results = new T?[entries.Length];
        var hits = 0;
        for (var i = 0; i < results.Length; i++)
        {
            if (Keyspace.Fresh(namespaced[i], entries[i]) is { } bytes)
            {
                hits++;
                if (TryDeserialize(bytes.Span, out T? result))
                {
                    results[i] = result;
                }
            }
        }

        Keyspace.CountReads(hits, results.Length);
        return results;
    }

    public async ValueTask SetAsync<T>(string key, T value, RcEntryOptions? options = null, CancellationToken cancellationToken = default)
    {
        // Arguments are checked before anything is done: a bad expiration is refused, not a bypass value's delete.
        var timing = Timing(options);
        var bytes = Serializer.Serialize(value);
        if (IsBypass(bytes, options))
        {
            await Keyspace.DeleteInsteadAsync(key, cancellationToken).ConfigureAwait(false);
            return;
        }

        if (options?.Tags is { Count: > 0 } tags)
        {
            _ = Keyspace.Key(key);
            TagVersions versions;
            try
            {
                versions = await Keyspace.ReadTagVersionsAsync(tags, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                await Keyspace.DeleteInsteadAsync(key, cancellationToken).ConfigureAwait(false);
                throw;
            }

            await Keyspace.SetTaggedAsync(key, bytes, timing, tags, versions, replaces: true, cancellationToken).ConfigureAwait(false);
            return;
        }

        await Keyspace.SetAsync(key, bytes, timing, replaces: true, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask SetManyAsync<T>(IReadOnlyCollection<KeyValuePair<string, T>> items, RcEntryOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(items);
        var timing = Timing(options);
        var entries = new List<PendingWrite>(items.Count);
        List<string>? bypassed = null;
        foreach (var (key, value) in items)
        {
            // Every key is checked before any is written or removed.
            _ = Keyspace.Key(key);
            var bytes = Serializer.Serialize(value);
            if (IsBypass(bytes, options))
            {
                (bypassed ??= []).Add(key);
            }
            else
            {
                entries.Add(new PendingWrite(key, bytes, timing, options?.Tags));
            }
        }

        TagVersions? versions = null;
        try
        {
            if (bypassed is not null)
            {
                await Keyspace.DeleteInsteadAsync(bypassed, cancellationToken).ConfigureAwait(false);
            }

            versions = options?.Tags is { Count: > 0 } tags && entries.Count > 0 ? await Keyspace.ReadTagVersionsAsync(tags, cancellationToken).ConfigureAwait(false) : null;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested && entries.Count > 0)
        {
            await Keyspace.DeleteInsteadAsync([.. entries.Select(static e => e.Key)], cancellationToken).ConfigureAwait(false);
            throw;
        }

        await Keyspace.SetManyAsync(entries, versions, replaces: true, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<bool> AddAsync<T>(string key, T value, RcEntryOptions? options = null, CancellationToken cancellationToken = default)
    {
        var timing = Timing(options);
        _ = Keyspace.Key(key);
        var bytes = Serializer.Serialize(value);
        if (IsBypass(bytes, options))
        {
            return false;
        }

        var versions = options?.Tags is { Count: > 0 } tags ? await Keyspace.ReadTagVersionsAsync(tags, cancellationToken).ConfigureAwait(false) : null;
        return await Keyspace.AddAsync(key, bytes, timing, options?.Tags, versions, cancellationToken).ConfigureAwait(false);
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
        return ValueOf(GetOrSetCoreAsync(key, factory, options, Encode, Decode, cancellationToken));

        static async ValueTask<T> ValueOf(ValueTask<Loaded<T>> loading) => (await loading.ConfigureAwait(false)).Value;

        bool Decode(ReadOnlyMemory<byte> bytes, out T? value) => TryDeserialize(bytes.Span, out value);

        byte[]? Encode(T value)
        {
            var bytes = Serializer.Serialize(value);
            return IsBypass(bytes, options) ? null : bytes;
        }
    }

    /// <summary>
    /// Cache-aside over any encoding, through the <see cref="Loader"/>: <paramref name="encode"/> returns the bytes to
    /// store, or null to store nothing; <paramref name="decode"/> reads a hit, false for unreadable bytes (a miss); the
    /// value carries <see cref="RcEntryOptions.Tags"/> when <paramref name="options"/> has them. Says where the answer came from.
    /// </summary>
    internal ValueTask<Loaded<T>> GetOrSetCoreAsync<T>(
        string key,
        Func<CancellationToken, ValueTask<T>> factory,
        RcEntryOptions? options,
        Func<T, byte[]?> encode,
        Decoder<T> decode,
        CancellationToken cancellationToken)
    {
        if (!Keyspace.IsValidKey(key))
        {
            return cancellationToken.IsCancellationRequested ? ValueTask.FromCanceled<Loaded<T>>(cancellationToken) : LoadUncachedAsync(key, factory, null, cancellationToken);
        }

        LoadPolicy policy;
        try
        {
            policy = Loader.Resolve(options);
            Keyspace.CheckTags(options?.Tags);
        }
        catch (ArgumentException ex)
        {
            // Options that name no valid policy, or a tag that breaks a rule, fail the returned task, as they did when this
            // method was async.
            return ValueTask.FromException<Loaded<T>>(ex);
        }

        return Load(key, factory, options, policy, options?.Tags, encode, decode, cancellationToken, starting: null, refreshes: true);
    }

    /// <summary>
    /// What the overload above does, with the options' policy resolved and the entry's tags made by the caller
    /// (<c>[RcCached]</c> resolves its options once, and makes only a request's tags per request); <paramref name="starting"/>
    /// is called when this call starts a load of its own; without <paramref name="refreshes"/>, a hit past the eager
    /// refresh threshold starts no refresh (a HEAD request's render is never stored).
    /// </summary>
    internal ValueTask<Loaded<T>> GetOrSetCoreAsync<T>(
        string key,
        Func<CancellationToken, ValueTask<T>> factory,
        RcEntryOptions? options,
        LoadPolicy policy,
        IReadOnlyList<string>? tags,
        Func<T, byte[]?> encode,
        Decoder<T> decode,
        CancellationToken cancellationToken,
        Action? starting = null,
        bool refreshes = true) =>
        Keyspace.IsValidKey(key) ? Load(key, factory, options, policy, tags, encode, decode, cancellationToken, starting, refreshes)
            : cancellationToken.IsCancellationRequested ? ValueTask.FromCanceled<Loaded<T>>(cancellationToken)
            : LoadUncachedAsync(key, factory, starting, cancellationToken);

    // Not a state machine of its own: the loader's is the one the caller awaits.
    private ValueTask<Loaded<T>> Load<T>(string key, Func<CancellationToken, ValueTask<T>> factory, RcEntryOptions? options, LoadPolicy policy, IReadOnlyList<string>? tags, Func<T, byte[]?> encode, Decoder<T> decode, CancellationToken cancellationToken, Action? starting, bool refreshes) =>
        Loader.GetOrLoadAsync(new LoadRequest<T>(key, Keyspace.Key(key), factory, options, policy, encode, decode) { Starting = starting, Tags = tags, Refreshes = refreshes }, cancellationToken);

    /// <summary>Cache-aside never fails on a key the cache cannot hold: it runs the factory, as HybridCache does.</summary>
    private async ValueTask<Loaded<T>> LoadUncachedAsync<T>(string? key, Func<CancellationToken, ValueTask<T>> factory, Action? starting, CancellationToken cancellationToken)
    {
        LogKeyBypassed(_logger, key?.Length ?? 0);
        starting?.Invoke();
        return new(await factory(cancellationToken).ConfigureAwait(false), LoadOutcome.Loaded);
    }

    public ValueTask<RcRemovalResult> InvalidateAsync(string name, params object?[] args) => DeleteAsync(RcKey.For(name, args));

    public ValueTask<RcRemovalResult> InvalidateAsync(string name, object?[] args, CancellationToken cancellationToken) => DeleteAsync(RcKey.For(name, args), cancellationToken);

    public ValueTask<RcRemovalResult> InvalidateTagAsync(string tag, CancellationToken cancellationToken = default) => Keyspace.InvalidateTagAsync(tag, cancellationToken);

    /// <summary>The Redis connections beneath this cache, for <c>GetRedisConnectionsAsync</c>.</summary>
    internal ValueTask<IReadOnlyDictionary<string, StackExchange.Redis.IConnectionMultiplexer>> GetRedisConnectionsAsync(CancellationToken cancellationToken) =>
        Keyspace.GetRedisConnectionsAsync(cancellationToken);

    /// <summary>How many callers wait for the load of <paramref name="key"/> under way, or 0 when none runs (for tests).</summary>
    internal int LoadWaiters<T>(string key) => Loader.Waiters<T>(Keyspace.Key(key));

    /// <summary>Gets the name of this cache (<c>default</c>, or its name under <c>Rc:Caches</c>), a telemetry tag.</summary>
    internal string Name => Keyspace.Name;

    /// <summary>Gets the kind of the store beneath, a telemetry tag.</summary>
    internal string StoreKind => Keyspace.StoreKind;

    /// <summary>Whether a key would be accepted (not empty, not over <c>Rc:MaximumKeyLength</c>).</summary>
    internal bool IsValidKey(string key) => Keyspace.IsValidKey(key);

    internal bool IsValidTag(string tag) => Keyspace.IsValidTag(tag);

    /// <summary>The key as the store holds it: checked, with the namespace (the batch queues lookups by it).</summary>
    internal string NamespacedKey(string key, string paramName = "key") => Keyspace.Key(key, paramName);

    /// <summary>Reads namespaced keys in one round trip per server, for a batch flush: <see cref="CacheNamespace.ReadEntriesAsync"/>.</summary>
    internal ValueTask<byte[]?[]> ReadEntriesAsync(string[] namespacedKeys, CancellationToken cancellationToken) =>
        Keyspace.ReadEntriesAsync(namespacedKeys, cancellationToken);

    /// <summary>The value of an entry <see cref="ReadEntriesAsync"/> read, if it is fresh.</summary>
    internal ReadOnlyMemory<byte>? Fresh(string namespacedKey, byte[]? entry) => Keyspace.Fresh(namespacedKey, entry);

    /// <summary>Counts lookups of a batch flush.</summary>
    internal void CountReads(int hits, int reads) => Keyspace.CountReads(hits, reads);

    /// <summary>Reads namespaced keys in one round trip per server, with their headers (values past their freshness included), for a batch flush.</summary>
    internal ValueTask<(ReadOnlyMemory<byte>? Value, EntryHeader Header, byte[]? Entry)[]> ReadManyNamespacedAsync(string[] namespacedKeys, CancellationToken cancellationToken) =>
        Keyspace.ReadManyNamespacedAsync(namespacedKeys, cancellationToken);

    /// <summary>Gets the time now, in Unix milliseconds, as entry headers record it.</summary>
    internal long NowMilliseconds => Keyspace.NowMilliseconds;

    /// <summary>Writes entries under namespaced keys in one pipelined write per server, for a batch flush.</summary>
    internal ValueTask SetManyNamespacedAsync(IReadOnlyList<PendingWrite> items, TagVersions? versions, CancellationToken cancellationToken) =>
        Keyspace.SetManyNamespacedAsync(items, versions, replaces: false, cancellationToken);

    /// <summary>Reads the versions of tags before values that carry them are computed.</summary>
    internal ValueTask<TagVersions> ReadTagVersionsAsync(IEnumerable<string> tags, CancellationToken cancellationToken) =>
        Keyspace.ReadTagVersionsAsync(tags, cancellationToken);

    /// <summary>How many store round trips a multi-key call over these namespaced keys costs.</summary>
    internal int RoundTrips(IReadOnlyList<string> namespacedKeys) => Keyspace.RoundTrips(namespacedKeys);

    internal EntryTiming Timing(RcEntryOptions? options) => Loader.Timing(options);

    /// <summary>
    /// A configured bypass value (JSON text) as a serializer other than the default one writes it, so that a result
    /// that serializer wrote is compared with it as the call's own bypass values are; null, with a warning, when it
    /// cannot write that value (results are then compared with its JSON text only).
    /// </summary>
    private byte[]? SerializedBypass(string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            return Serializer.Serialize(ValueOf(document.RootElement));
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogBypassValueNotWritable(_logger, json, Keyspace.Prefix, Serializer.GetType().Name, ex.GetType().Name);
            return null;
        }

        // JSON as plain values: null, bool, long (a number without fraction or exponent that fits) or double, string,
        // arrays, and string-keyed maps (a repeated name keeps its last value, as JSON readers do).
        static object? ValueOf(JsonElement json)
        {
            switch (json.ValueKind)
            {
                case JsonValueKind.Null:
                    return null;
                case JsonValueKind.True or JsonValueKind.False:
                    return json.GetBoolean();
                case JsonValueKind.Number:
                    return json.TryGetInt64(out var integer) ? integer : json.GetDouble();
                case JsonValueKind.String:
                    return json.GetString();
                case JsonValueKind.Array:
                    return json.EnumerateArray().Select(ValueOf).ToArray();
                default:
                    var map = new Dictionary<string, object?>(StringComparer.Ordinal);
                    foreach (var property in json.EnumerateObject())
                    {
                        map[property.Name] = ValueOf(property.Value);
                    }

                    return map;
            }
        }
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
            value = _json is { } json ? json.Deserialize<T>(bytes) : Serializer.Deserialize<T>(bytes);
            return true;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogUnreadableEntry(_logger, Keyspace.Prefix, typeof(T).Name, ex.GetType().Name);
            value = default;
            return false;
        }
    }
}
