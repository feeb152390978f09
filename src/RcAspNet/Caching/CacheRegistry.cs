using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RcAspNet.Diagnostics;
using RcAspNet.Stores;

namespace RcAspNet.Caching;

/// <summary>
/// The caches an application configured: the default one and the named ones (<c>Rc:Caches</c>), each a typed cache over
/// a namespace on a store. Named caches share the default store unless they configure their own. Owns and disposes the stores.
/// </summary>
internal sealed class CacheRegistry : IDisposable, IAsyncDisposable
{
    private readonly Dictionary<string, RcCache> _named = new(StringComparer.Ordinal);
    private readonly List<IRcStore> _stores = [];
    private readonly List<string> _owners = []; // the cache that configured each store ("default" for the default store)

    public CacheRegistry(IOptions<RcOptions> options, StoreFactory factory, IRcSerializer serializer, TimeProvider time, RcMetrics metrics, ILoggerFactory loggerFactory)
    {
        var settings = options.Value;
        var logger = new QuietLogger(loggerFactory.CreateLogger("RcAspNet.Caching"));
        Options = settings;
        // The namespaces on the default store: its own, and those of named caches without a store of their own.
        var shared = settings.Caches.Where(static c => c.Value.Store is null).Select(c => NamespaceOf(settings, c.Key, c.Value)).Append(settings.Namespace).ToArray();
        var store = factory.Create(settings.Store, settings.Redis, settings.Router, settings.Shards, shared);
        _stores.Add(store);
        _owners.Add(DefaultName);
        // One log of changes for every namespace: two caches may map one key (a named cache's namespace lies under the
        // default one, whose clear covers it; two caches may be given one namespace).
        var changes = new ChangeLog();
        DefaultNamespace = new CacheNamespace(DefaultName, store, settings.Namespace, settings.DefaultExpiration, settings, time, metrics, logger, changes);
        var loading = LoadSettings.From(settings);
        Default = new RcCache(DefaultNamespace, serializer, settings.BypassValues, loading, logger);
        foreach (var (name, cache) in settings.Caches)
        {
            var own = store;
            if (cache.Store is { } kind)
            {
                own = factory.Create(kind, cache.Redis, cache.Router ?? RcRouterKind.Crc32, cache.Shards, [NamespaceOf(settings, name, cache)]);
                _stores.Add(own);
                _owners.Add(name);
            }

            var keyspace = new CacheNamespace(name, own, NamespaceOf(settings, name, cache), cache.DefaultExpiration ?? settings.DefaultExpiration, settings, time, metrics, logger, changes);
            _named[name] = new RcCache(keyspace, serializer, cache.BypassValues ?? settings.BypassValues, loading.With(cache), logger);
        }
    }

    public RcOptions Options { get; }

    private static string NamespaceOf(RcOptions settings, string name, RcNamedCacheOptions cache) => cache.Namespace ?? $"{settings.Namespace}{name}:";

    public RcCache Default { get; }

    /// <summary>Gets the default cache's namespace, which <c>IDistributedCache</c> stands on.</summary>
    public CacheNamespace DefaultNamespace { get; }

    public IReadOnlyList<IRcStore> Stores => _stores;

    /// <summary>Gets each store with the cache that configured it: the default cache's, then named caches' own.</summary>
    public IEnumerable<(string Cache, IRcStore Store)> StoresByCache => _owners.Zip(_stores);

    /// <summary>The default cache's name, as metrics and the health check give it.</summary>
    public const string DefaultName = "default";

    public RcCache Get(string name) => _named.TryGetValue(name, out var cache)
        ? cache
        : throw new InvalidOperationException($"No cache is named '{name}'; configure it under {Options.ConfigurationPath}:Caches:{name}.");

    public void Dispose()
    {
        foreach (var store in _stores)
        {
            store.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var store in _stores)
        {
            await store.DisposeAsync().ConfigureAwait(false);
        }
    }
}
