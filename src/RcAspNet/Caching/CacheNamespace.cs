using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using RcAspNet.Stores;

namespace RcAspNet.Caching;

/// <summary>
/// A namespace on a store, as rc's <c>Cache</c> object is: it checks keys, adds the namespace, lays entries out
/// (<see cref="EntryEnvelope"/>), renews sliding entries on read and refuses oversized values. Both
/// <see cref="RcDistributedCache"/> and the typed cache stand on it; it knows nothing of serialization.
/// </summary>
internal sealed partial class CacheNamespace
{
    private readonly int _maximumKeyLength;
    private readonly int _maximumValueSize;
    private readonly ILogger _logger;
    private readonly RenewalThrottle _renewals;

    public CacheNamespace(IRcStore store, string prefix, TimeSpan defaultExpiration, RcOptions options, TimeProvider time, ILogger logger)
    {
        Store = store;
        Prefix = prefix;
        DefaultExpiration = defaultExpiration;
        Time = time;
        _maximumKeyLength = options.MaximumKeyLength;
        _maximumValueSize = options.MaximumValueSize;
        _logger = logger;
        _renewals = new RenewalThrottle(time);
    }

    public IRcStore Store { get; }

    public string Prefix { get; }

    public TimeSpan DefaultExpiration { get; }

    public TimeProvider Time { get; }

    /// <summary>Checks a caller's key and returns it with the namespace.</summary>
    public string Key(string key, string paramName = "key")
    {
        ArgumentNullException.ThrowIfNull(key, paramName);
        if (key.Length == 0)
        {
            throw new ArgumentException("A cache key must not be empty.", paramName);
        }

        if (key.Length > _maximumKeyLength)
        {
            throw new ArgumentException($"A cache key must be at most {_maximumKeyLength} characters long (Rc:MaximumKeyLength); this one has {key.Length}.", paramName);
        }

        return Prefix.Length == 0 ? key : string.Concat(Prefix, key);
    }

    /// <summary>Returns whether a key would be accepted (the cache-aside paths skip the cache for one that would not).</summary>
    public bool IsValidKey(string? key) => !string.IsNullOrEmpty(key) && key.Length <= _maximumKeyLength;

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<ReadOnlyMemory<byte>?> GetAsync(string key, CancellationToken cancellationToken)
    {
        var namespaced = Key(key);
        var entry = await Store.GetAsync(namespaced, cancellationToken).ConfigureAwait(false);
        return Unwrap(namespaced, entry);
    }

    /// <summary>Reads on the calling thread, never waiting on the thread pool.</summary>
    public ReadOnlyMemory<byte>? Get(string key)
    {
        var namespaced = Key(key);
        return Unwrap(namespaced, Store.Get(namespaced));
    }

    public ValueTask<ReadOnlyMemory<byte>?[]> GetManyAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        var namespaced = new string[keys.Count];
        for (var i = 0; i < namespaced.Length; i++)
        {
            namespaced[i] = Key(keys[i], nameof(keys));
        }

        return GetManyNamespacedAsync(namespaced, cancellationToken);
    }

    /// <summary>Reads keys that already carry the namespace (checked by <see cref="Key"/>).</summary>
    public async ValueTask<ReadOnlyMemory<byte>?[]> GetManyNamespacedAsync(string[] namespaced, CancellationToken cancellationToken)
    {
        var entries = await Store.GetManyAsync(namespaced, cancellationToken).ConfigureAwait(false);
        var values = new ReadOnlyMemory<byte>?[entries.Length];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = Unwrap(namespaced[i], entries[i]);
        }

        return values;
    }

    /// <summary>Reads an entry only to renew it, if it is sliding, and waits for the renewal.</summary>
    public async ValueTask RefreshAsync(string key, CancellationToken cancellationToken)
    {
        var namespaced = Key(key);
        if (Renewal(await Store.GetAsync(namespaced, cancellationToken).ConfigureAwait(false)) is var ttl && ttl > TimeSpan.Zero)
        {
            await Store.ExpireAsync(namespaced, ttl, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The time to live a refresh renews <paramref name="entry"/> to: its full window if it is sliding, else zero.</summary>
    private TimeSpan Renewal(byte[]? entry) =>
        entry is not null && EntryEnvelope.Read(entry, out var sliding, out var absolute) == EntryKind.Wrapped && sliding > TimeSpan.Zero
            ? EntryTiming.Renewal(sliding, absolute, Time.GetUtcNow())
            : TimeSpan.Zero;

    /// <summary>Reads an entry only to renew it, if it is sliding, on the calling thread.</summary>
    public void Refresh(string key)
    {
        var namespaced = Key(key);
        if (Renewal(Store.Get(namespaced)) is var ttl && ttl > TimeSpan.Zero)
        {
            Store.Expire(namespaced, ttl);
        }
    }

    /// <summary>Writes on the calling thread, never waiting on the thread pool.</summary>
    public void Set(string key, byte[] value, EntryTiming timing)
    {
        var namespaced = Key(key);
        if (value.Length > _maximumValueSize)
        {
            LogValueTooLarge(_logger, value.Length, _maximumValueSize);
            Store.Delete(namespaced);
            return;
        }

        Store.Set(namespaced, Layout(value, timing), timing.TimeToLive);
    }

    public bool Delete(string key) => Store.Delete(Key(key));

    public ValueTask SetAsync(string key, byte[] value, EntryTiming timing, CancellationToken cancellationToken)
    {
        var namespaced = Key(key);
        if (value.Length > _maximumValueSize)
        {
            LogValueTooLarge(_logger, value.Length, _maximumValueSize);

            // Not stored; and an older value must not outlive the write that replaced it.
            return new ValueTask(Store.DeleteAsync(namespaced, cancellationToken).AsTask());
        }

        return Store.SetAsync(namespaced, Layout(value, timing), timing.TimeToLive, cancellationToken);
    }

    /// <summary>Writes many entries in one pipelined write per server; oversized ones are not stored and their keys are deleted.</summary>
    public ValueTask SetManyAsync(IReadOnlyList<(string Key, byte[] Value, EntryTiming Timing)> items, CancellationToken cancellationToken)
    {
        var namespaced = new (string, byte[], EntryTiming)[items.Count];
        for (var i = 0; i < namespaced.Length; i++)
        {
            namespaced[i] = (Key(items[i].Key, nameof(items)), items[i].Value, items[i].Timing);
        }

        return SetManyNamespacedAsync(namespaced, cancellationToken);
    }

    /// <summary>Writes entries whose keys already carry the namespace.</summary>
    public async ValueTask SetManyNamespacedAsync(IReadOnlyList<(string Key, byte[] Value, EntryTiming Timing)> items, CancellationToken cancellationToken)
    {
        var entries = new List<StoreEntry>(items.Count);
        List<string>? refused = null;
        foreach (var (namespaced, value, timing) in items)
        {
            if (value.Length > _maximumValueSize)
            {
                LogValueTooLarge(_logger, value.Length, _maximumValueSize);
                (refused ??= []).Add(namespaced);
            }
            else
            {
                entries.Add(new StoreEntry(namespaced, Layout(value, timing), timing.TimeToLive));
            }
        }

        await Store.SetManyAsync(entries, cancellationToken).ConfigureAwait(false);
        if (refused is not null)
        {
            await Store.DeleteManyAsync(refused, cancellationToken).ConfigureAwait(false);
        }
    }

    public ValueTask<bool> AddAsync(string key, byte[] value, EntryTiming timing, CancellationToken cancellationToken)
    {
        var namespaced = Key(key);
        if (value.Length > _maximumValueSize)
        {
            LogValueTooLarge(_logger, value.Length, _maximumValueSize);
            return new(false);
        }

        return Store.AddAsync(namespaced, Layout(value, timing), timing.TimeToLive, cancellationToken);
    }

    private static byte[] Layout(byte[] value, EntryTiming timing) =>
        timing.IsSliding ? EntryEnvelope.Wrap(value, timing.Sliding, timing.Absolute)
        : EntryEnvelope.NeedsHeader(value) ? EntryEnvelope.Wrap(value, TimeSpan.Zero, null)
        : value;

    /// <summary>The value of an entry as read, renewing it in the background when it is sliding.</summary>
    public ReadOnlyMemory<byte>? Unwrap(string namespacedKey, byte[]? entry)
    {
        if (entry is null)
        {
            return null;
        }

        switch (EntryEnvelope.Read(entry, out var sliding, out var absolute))
        {
            case EntryKind.Plain:
                return entry;
            case EntryKind.Wrapped when sliding > TimeSpan.Zero:
                var untilDeadline = absolute is { } deadline ? deadline - Time.GetUtcNow() : TimeSpan.MaxValue;
                if (untilDeadline <= TimeSpan.Zero)
                {
                    return null;
                }

                if (_renewals.Renewal(namespacedKey, sliding, untilDeadline) is var ttl && ttl > TimeSpan.Zero)
                {
                    Store.ExpireInBackground(namespacedKey, ttl);
                }

                return entry.AsMemory(EntryEnvelope.HeaderSize);
            case EntryKind.Wrapped:
                return entry.AsMemory(EntryEnvelope.HeaderSize);
            default:
                LogCorruptEntry(_logger, Store.Kind);
                return null;
        }
    }
}
