using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using RcAspNet;
using RcAspNet.Batching;
using RcAspNet.Caching;
using RcAspNet.Configuration;
using RcAspNet.Diagnostics;
using RcAspNet.Endpoints;
using RcAspNet.Stores;
using StackExchange.Redis;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers RcAspNet.</summary>
public static class RcServiceCollectionExtensions
{
    /// <summary>
    /// Adds RcAspNet configured from the <c>Rc</c> section: <see cref="IDistributedCache"/> and
    /// <see cref="IBufferDistributedCache"/> (replacing an earlier registration), <see cref="IRcCache"/> and its named
    /// caches as keyed services, and the request-scoped <see cref="IRcBatch"/>. Settings are validated at start-up.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="configuration">The <c>Rc</c> section itself, or a configuration root, whose <c>Rc</c> section is then used.</param>
    public static IServiceCollection AddRcCache(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        var section = configuration is IConfigurationSection ? configuration : configuration.GetSection(RcOptions.SectionName);
        services.AddOptions<RcOptions>().Configure(options => RcOptionsBinder.Bind(section, options));
        return services.AddRcCacheCore();
    }

    /// <summary>Adds RcAspNet configured in code; see <see cref="AddRcCache(IServiceCollection, IConfiguration)"/>.</summary>
    /// <param name="services">The services.</param>
    /// <param name="configure">Sets the options.</param>
    public static IServiceCollection AddRcCache(this IServiceCollection services, Action<RcOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<RcOptions>().Configure(configure);
        return services.AddRcCacheCore();
    }

    /// <summary>
    /// Makes <c>Rc:Store=Redis</c> use the application's own <see cref="IConnectionMultiplexer"/> from the services (one
    /// the app registered, or Aspire's <c>builder.AddRedisClient("cache")</c>) instead of opening one from
    /// <c>Rc:Redis</c>: no second multiplexer for that server. The library still opens, for that server, its own
    /// blocking connections for the synchronous members (on demand, as many as run at once) and one link per server,
    /// each named <c>rcaspnet</c>.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="serviceKey">The key of a keyed multiplexer (Aspire's <c>AddKeyedRedisClient("name")</c>); null for the one registered without a key.</param>
    public static IServiceCollection UseRcRedisConnection(this IServiceCollection services, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.Configure<RcOptions>(static o => o.UsesAppConnection = true);
        services.AddSingleton(new RcAppConnection(serviceKey));
        return services;
    }

    /// <summary>
    /// Configures the <see cref="JsonSerializerOptions"/> of the default <see cref="IRcSerializer"/>, which start from
    /// the web defaults: for example <c>o.TypeInfoResolverChain.Insert(0, AppJsonContext.Default)</c>, so that a
    /// trimmed or AOT app serializes its cached types with its source-generated <c>JsonSerializerContext</c>.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="configure">Changes the options.</param>
    public static IServiceCollection ConfigureRcJson(this IServiceCollection services, Action<JsonSerializerOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.Configure<RcJsonSerializer.Setup>(setup => setup.Configure += configure);
        return services;
    }

    private static IServiceCollection AddRcCacheCore(this IServiceCollection services)
    {
        services.AddOptions<RcOptions>().ValidateOnStart().PostConfigure<IServiceProvider>(static (options, provider) => ReadConnectionString(options, provider.GetService<IConfiguration>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RcOptions>, RcOptionsValidator>());
        services.AddLogging();
        services.AddMetrics();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<RcMetrics>();
        services.TryAddSingleton<IRcSerializer>(static sp => new RcJsonSerializer(sp.GetRequiredService<IOptions<RcJsonSerializer.Setup>>().Value.Configure));
        services.TryAddSingleton(static sp => new StoreFactory(
            sp.GetRequiredService<IOptions<RcOptions>>().Value,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<RcMetrics>(),
            sp.GetRequiredService<Microsoft.Extensions.Logging.ILoggerFactory>(),
            sp.GetServices<IRcRouter>().LastOrDefault(),
            sp.GetService<RcAppConnection>()?.Resolve(sp)));
        services.TryAddSingleton<CacheRegistry>();
        services.TryAddSingleton<IRcCache>(static sp => sp.GetRequiredService<CacheRegistry>().Default);
        services.TryAddKeyedSingleton<IRcCache>(KeyedService.AnyKey, static (sp, name) => sp.GetRequiredService<CacheRegistry>().Get(
            name as string ?? throw new InvalidOperationException("A named IRcCache is resolved by its name, a string.")));
        services.TryAddScoped<IRcBatch, RcBatch>();
        services.TryAddEnumerable(ServiceDescriptor.Transient<IStartupFilter, RcFailureBudgetStartupFilter>());
        services.TryAddSingleton<CachedEndpointPolicies>();
        services.TryAddEnumerable(ServiceDescriptor.Transient<IStartupFilter, RcCachedStartupFilter>());
        services.TryAddSingleton(static sp => new RcDistributedCache(sp.GetRequiredService<CacheRegistry>().DefaultNamespace));
        services.AddSingleton<IDistributedCache>(static sp => sp.GetRequiredService<RcDistributedCache>());
        services.TryAddSingleton<IBufferDistributedCache>(static sp => sp.GetRequiredService<RcDistributedCache>());
        return services;
    }

    /// <summary>
    /// <c>Rc:RedisConnectionName</c>: the configuration string comes from the application's connection strings. It must
    /// name one when the store is Redis; another store does not need it.
    /// </summary>
    private static void ReadConnectionString(RcOptions options, IConfiguration? configuration)
    {
        if (options.RedisConnectionName is not { } name)
        {
            return;
        }

        var path = $"{options.ConfigurationPath}:RedisConnectionName";
        if (options.Redis is not null)
        {
            options.BindingErrors.Add($"{path}: set either it or {options.ConfigurationPath}:Redis, not both.");
        }
        else if (configuration?.GetConnectionString(name) is { Length: > 0 } connectionString)
        {
            options.Redis = connectionString;
        }
        else if (name.Length > 0 && options.Store != RcStoreKind.Redis)
        {
            // Kept for another environment's Store=Redis: a host provides the connection string only where Redis runs.
        }
        else
        {
            options.BindingErrors.Add($"{path}: no connection string is named '{name}' (ConnectionStrings:{name}).");
        }
    }
}
