using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace RcAspNet.Configuration;

/// <summary>Checks <see cref="RcOptions"/> at start-up and reports every wrong setting in one message, each by its path.</summary>
/// <param name="services">
/// What DI can make: a router of the application's (<see cref="IRcRouter"/>) routes every sharded store's shards instead
/// of its <c>Router</c>. Asked, not made: a router made from these options would wait for this check.
/// </param>
internal sealed class RcOptionsValidator(IServiceProviderIsService? services = null) : IValidateOptions<RcOptions>
{
    private readonly bool _customRouter = services?.IsService(typeof(IRcRouter)) == true;

    /// <summary>Where a setting that a timer waits for ends: .NET's timers wait at most 49.17:02:47.294.</summary>
    private static readonly TimeSpan LongestTimerWait = TimeSpan.FromDays(49);

    public ValidateOptionsResult Validate(string? name, RcOptions options)
    {
        var errors = new List<string>(options.BindingErrors);
        var path = options.ConfigurationPath;
        if (options.UsesAppConnection)
        {
            if (options.Store != RcStoreKind.Redis)
            {
                errors.Add($"{path}:Store: UseRcRedisConnection() gives a Store=Redis the application's own connection; Store is {options.Store}.");
            }
            else if (options.Redis is not null || options.RedisConnectionName is not null)
            {
                errors.Add($"{path}:Redis: UseRcRedisConnection() gives the store the application's own connection; remove {path}:Redis and {path}:RedisConnectionName, or the call.");
            }
        }
        else
        {
            CheckStore(errors, path, options.Store, options.Redis, options.Router, options.Shards, $"{path}:RedisConnectionName naming a connection string, or UseRcRedisConnection()", customRouter: _customRouter);
        }
        Positive(errors, $"{path}:DefaultExpiration", options.DefaultExpiration);
        TimerWait(errors, $"{path}:OperationTimeout", options.OperationTimeout);
        TimerWait(errors, $"{path}:CircuitBreakDuration", options.CircuitBreakDuration);
        AtLeastOne(errors, $"{path}:CircuitBreakerThreshold", options.CircuitBreakerThreshold);
        AtLeastOne(errors, $"{path}:PendingRemovalLimit", options.PendingRemovalLimit);
        Positive(errors, $"{path}:RemovalReplayWindow", options.RemovalReplayWindow);
        AtLeastOne(errors, $"{path}:MaximumKeyLength", options.MaximumKeyLength);
        AtLeastOne(errors, $"{path}:MaximumValueSize", options.MaximumValueSize);
        AtLeastOne(errors, $"{path}:MemorySizeLimit", options.MemorySizeLimit);
        AtLeastOne(errors, $"{path}:BatchConcurrency", options.BatchConcurrency);
        AtLeastOne(errors, $"{path}:NearCache:MaximumSize", options.NearCache.MaximumSize);
        CheckBypassValues(errors, $"{path}:BypassValues", options.BypassValues);
        CheckLoading(errors, path, options.FailSafe, options.FactorySoftTimeout, options.FactoryHardTimeout, options.EagerRefreshThreshold, options.StampedeProtection);
        CheckAuthorityFile(errors, $"{path}:SslCaFile", options.SslCaFile);
        if (!options.CacheStatusHeader.All(static c => char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c)))
        {
            errors.Add($"{path}:CacheStatusHeader: '{options.CacheStatusHeader}' is not a valid header name: use an HTTP token, letters, digits and !#$%&'*+-.^_`|~ (empty turns the header off).");
        }

        foreach (var (cacheName, cache) in options.Caches)
        {
            var cachePath = $"{path}:Caches:{cacheName}";
            if (cache.Store is { } store)
            {
                // Without a configuration string of its own, a Redis cache shares the application's connection, if it was given one.
                CheckStore(errors, cachePath, store, cache.Redis, cache.Router ?? RcRouterKind.Crc32, cache.Shards,
                    "UseRcRedisConnection() to share the application's connection", sharesAppConnection: options.UsesAppConnection && cache.Redis is null, customRouter: _customRouter);
            }
            else if (cache.Redis is not null || cache.Router is not null || cache.Shards.Count > 0)
            {
                errors.Add($"{cachePath}: Redis, Router and Shards apply only to a cache with a Store of its own; set {cachePath}:Store.");
            }

            if (cache.DefaultExpiration is { } expiration)
            {
                Positive(errors, $"{cachePath}:DefaultExpiration", expiration);
            }

            if (cache.BypassValues is { } bypass)
            {
                CheckBypassValues(errors, $"{cachePath}:BypassValues", bypass);
            }

            CheckLoading(errors, cachePath, cache.FailSafe, cache.FactorySoftTimeout, cache.FactoryHardTimeout, cache.EagerRefreshThreshold, cache.StampedeProtection);
        }

        return errors.Count == 0
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail($"RcAspNet is not configured correctly: {string.Join(" ", errors)}");
    }

    private static void CheckStore(List<string> errors, string path, RcStoreKind store, string? redis, RcRouterKind router, Dictionary<string, RcShardOptions> shards, string otherwise, bool sharesAppConnection = false, bool customRouter = false)
    {
        if (!Enum.IsDefined(store))
        {
            errors.Add($"{path}:Store: '{store}' is not allowed; use one of {string.Join(", ", Enum.GetNames<RcStoreKind>())}.");
        }

        if (!Enum.IsDefined(router))
        {
            errors.Add($"{path}:Router: '{router}' is not allowed; use one of {string.Join(", ", Enum.GetNames<RcRouterKind>())}.");
        }

        if (store == RcStoreKind.Redis && string.IsNullOrWhiteSpace(redis) && !sharesAppConnection)
        {
            errors.Add($"{path}:Redis: Store=Redis needs a StackExchange.Redis configuration string, such as 127.0.0.1:6379, or {otherwise}.");
        }

        if (store == RcStoreKind.Redis && !string.IsNullOrWhiteSpace(redis))
        {
            try
            {
                if (!string.IsNullOrEmpty(StackExchange.Redis.ConfigurationOptions.Parse(redis).ServiceName))
                {
                    // The removal log checks a restarted server's identity, and the near cache follows invalidations, on
                    // the servers listed: here those are Sentinels, not the primary.
                    errors.Add($"{path}:Redis: Sentinel (serviceName) is not supported: name the primary, or a cluster's nodes.");
                }
            }
            catch (ArgumentException ex)
            {
                errors.Add($"{path}:Redis: not a valid StackExchange.Redis configuration string ({ex.Message})");
            }
        }

        if (store == RcStoreKind.Sharded && shards.Count == 0)
        {
            errors.Add($"{path}:Shards: Store=Sharded needs at least one shard, such as {path}:Shards:cache01:Port=6379.");
        }

        // The shards are checked whatever the store, as the schema checks them: a setting kept for another environment's
        // Store=Sharded is wrong here as well.
        foreach (var (shardName, shard) in shards)
        {
            var shardPath = $"{path}:Shards:{shardName}";
            if (shard.UnixSocketPath is { } socketPath && !Path.IsPathFullyQualified(socketPath))
            {
                errors.Add($"{shardPath}:UnixSocketPath: '{socketPath}' is not an absolute path.");
            }

            if (string.IsNullOrWhiteSpace(shard.Host))
            {
                errors.Add($"{shardPath}:Host: must not be empty.");
            }
            else if (!IsHost(shard.Host))
            {
                // Connected to as written, "redis:6380" would be looked up as a name and never reached, "[::1]:6380" would
                // lose its port, and "[::1]" would take another place on the Ketama ring than "::1".
                errors.Add($"{shardPath}:Host: '{shard.Host}' is not a host name or address; give its port in {shardPath}:Port, and no scheme or path.");
            }

            if (shard.Port is < 1 or > 65535)
            {
                errors.Add($"{shardPath}:Port: {shard.Port} is out of range; a port is 1 to 65535.");
            }

            if (shard.Db < 0)
            {
                errors.Add($"{shardPath}:Db: {shard.Db} is negative; a database number is 0 or more.");
            }

            // Redis authenticates a user only with its password (AUTH user password): a user alone would silently
            // connect as the default user, or fail on a server that turned the default user off.
            if (!string.IsNullOrWhiteSpace(shard.User) && string.IsNullOrEmpty(shard.Password))
            {
                errors.Add($"{shardPath}:Password: {shardPath}:User is set, so the user's password is needed too.");
            }

            if (!string.IsNullOrWhiteSpace(shard.SslHost) && !shard.Ssl)
            {
                errors.Add($"{shardPath}:SslHost: applies only to a TLS connection; set {shardPath}:Ssl=true, or remove SslHost.");
            }
        }

        if (store == RcStoreKind.Sharded && router == RcRouterKind.Crc32 && !customRouter)
        {
            foreach (var same in Crc32Router.SameNumbers([.. shards.Keys]))
            {
                errors.Add($"{path}:Shards: {Crc32Router.SameNumberRule(same)}");
            }
        }

        if (store == RcStoreKind.Sharded && router == RcRouterKind.Ketama && !customRouter)
        {
            foreach (var clash in shards.GroupBy(static s => KetamaRouter.Identity(s.Value.Host, s.Value.Port, s.Value.Db, s.Value.UnixSocketPath)).Where(static g => g.Count() > 1))
            {
                errors.Add($"{path}:Shards: {string.Join(" and ", clash.Select(static s => s.Key))} have the same host, port and db; Ketama places shards by those, so each must differ.");
            }
        }
    }

    /// <summary>
    /// Whether <paramref name="host"/> is a name, or an IP address without brackets, with no port, scheme, path or space:
    /// a host with a colon must be an IPv6 address, whose zone (after <c>%</c>) has none.
    /// </summary>
    private static bool IsHost(string host)
    {
        if (host.AsSpan().IndexOfAny("[]/") >= 0 || host.Any(char.IsWhiteSpace))
        {
            return false;
        }

        var zone = host.IndexOf('%', StringComparison.Ordinal);
        return !host.Contains(':', StringComparison.Ordinal) || (IPAddress.TryParse(host, out _) && (zone < 0 || host.IndexOf(':', zone) < 0));
    }

    private static void CheckAuthorityFile(List<string> errors, string path, string? file)
    {
        if (string.IsNullOrEmpty(file))
        {
            return;
        }

        try
        {
            using var _ = X509CertificateLoader.LoadCertificateFromFile(file);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException)
        {
            errors.Add($"{path}: '{file}' cannot be read as a certificate, PEM or DER ({ex.Message})");
        }
    }

    private static void CheckBypassValues(List<string> errors, string path, List<string> values)
    {
        for (var i = 0; i < values.Count; i++)
        {
            try
            {
                using var _ = JsonDocument.Parse(values[i]);
            }
            catch (JsonException)
            {
                errors.Add($"{path}:{i}: '{values[i]}' is not JSON text; write null, [], \"\", 0 or another JSON value.");
            }
        }
    }

    /// <summary>The settings of how a cache loads what it misses (fail-safe, timeouts, eager refresh, stampede protection).</summary>
    private static void CheckLoading(List<string> errors, string path, RcFailSafeOptions? failSafe, TimeSpan? soft, TimeSpan? hard, double? eager, RcStampedeProtection? stampede)
    {
        if (failSafe is not null)
        {
            if (failSafe.MaxDuration is { } maximum)
            {
                Positive(errors, $"{path}:FailSafe:MaxDuration", maximum);
            }

            Positive(errors, $"{path}:FailSafe:ThrottleDuration", failSafe.ThrottleDuration);
        }

        if (soft is { } softTimeout)
        {
            Positive(errors, $"{path}:FactorySoftTimeout", softTimeout);
        }

        if (hard is { } hardTimeout)
        {
            Positive(errors, $"{path}:FactoryHardTimeout", hardTimeout);
        }

        if (soft > TimeSpan.Zero && hard > TimeSpan.Zero && soft >= hard)
        {
            errors.Add($"{path}:FactorySoftTimeout: {soft} is not shorter than {path}:FactoryHardTimeout ({hard}); a soft timeout applies before the hard one.");
        }

        if (eager is { } threshold && !(threshold > 0 && threshold < 1))
        {
            errors.Add($"{path}:EagerRefreshThreshold: {threshold.ToString(System.Globalization.CultureInfo.InvariantCulture)} is not between 0 and 1 (both excluded): the fraction of an entry's lifetime after which a hit refreshes it.");
        }

        if (stampede is { } protection && !Enum.IsDefined(protection))
        {
            errors.Add($"{path}:StampedeProtection: '{protection}' is not allowed; use one of {string.Join(", ", Enum.GetNames<RcStampedeProtection>())}.");
        }
    }

    private static void Positive(List<string> errors, string path, TimeSpan value)
    {
        if (value <= TimeSpan.Zero)
        {
            errors.Add($"{path}: {value} is not positive; a duration must be greater than zero.");
        }
    }

    /// <summary>A duration a timer waits for: positive, and shorter than 49 days (a timer waits at most 49.17:02:47.294).</summary>
    private static void TimerWait(List<string> errors, string path, TimeSpan value)
    {
        Positive(errors, path, value);
        if (value >= LongestTimerWait)
        {
            errors.Add($"{path}: {value} is too long; a timer waits less than 49 days (49.00:00:00).");
        }
    }

    private static void AtLeastOne(List<string> errors, string path, long value)
    {
        if (value < 1)
        {
            errors.Add($"{path}: {value} must be at least 1.");
        }
    }
}
