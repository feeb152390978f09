using Microsoft.Extensions.Caching.Distributed;
using StackExchange.Redis;

namespace RcAspNet.Benchmarks.Baselines;

/// <summary>
/// "RedisCache pattern (re-created)": the commands Microsoft.Extensions.Caching.StackExchangeRedis's <c>RedisCache</c>
/// sends (ASP.NET Core 8 and later), re-created on the same client because that package cannot be restored on this
/// machine. An entry is a HASH with the fields absexp, sldexp (ticks, -1 for none) and data. Set is HSET and EXPIRE,
/// pipelined (one round trip); Get is HMGET of the three fields, then an awaited EXPIRE when the entry is sliding
/// (a second round trip). This is the command pattern and its client-side work, not Microsoft's code itself.
/// </summary>
internal sealed class RedisCachePattern(IDatabase database, string instanceName, TimeProvider time)
{
    private const string AbsoluteExpirationKey = "absexp";
    private const string SlidingExpirationKey = "sldexp";
    private const string DataKey = "data";
    private const long NotPresent = -1;

    private static readonly RedisValue[] GetFields = [AbsoluteExpirationKey, SlidingExpirationKey, DataKey];

    public async Task<byte[]?> GetAsync(string key)
    {
        var prefixedKey = instanceName + key;
        var results = await database.HashGetAsync(prefixedKey, GetFields);
        if (results.Length >= 2)
        {
            MapMetadata(results, out var absolute, out var sliding);
            if (sliding is { } window)
            {
                await RefreshAsync(prefixedKey, absolute, window);
            }
        }

        return results.Length >= 3 && !results[2].IsNull ? (byte[]?)results[2] : null;
    }

    public Task SetAsync(string key, byte[] value, DistributedCacheEntryOptions options)
    {
        var prefixedKey = instanceName + key;
        var creationTime = time.GetUtcNow();
        var absolute = AbsoluteExpiration(creationTime, options);
        var fields = new HashEntry[]
        {
            new(AbsoluteExpirationKey, absolute?.Ticks ?? NotPresent),
            new(SlidingExpirationKey, options.SlidingExpiration?.Ticks ?? NotPresent),
            new(DataKey, value),
        };

        return ExpirationInSeconds(creationTime, absolute, options) is { } ttl
            ? Task.WhenAll(database.HashSetAsync(prefixedKey, fields), database.KeyExpireAsync(prefixedKey, TimeSpan.FromSeconds(ttl)))
            : database.HashSetAsync(prefixedKey, fields);
    }

    private Task RefreshAsync(string prefixedKey, DateTimeOffset? absolute, TimeSpan sliding)
    {
        TimeSpan expiration;
        if (absolute is { } deadline)
        {
            var left = deadline - time.GetUtcNow();
            expiration = left <= sliding ? left : sliding;
        }
        else
        {
            expiration = sliding;
        }

        return database.KeyExpireAsync(prefixedKey, expiration);
    }

    private static void MapMetadata(RedisValue[] results, out DateTimeOffset? absolute, out TimeSpan? sliding)
    {
        absolute = null;
        sliding = null;
        var absoluteTicks = (long?)results[0];
        if (absoluteTicks is { } a && a != NotPresent)
        {
            absolute = new DateTimeOffset(a, TimeSpan.Zero);
        }

        var slidingTicks = (long?)results[1];
        if (slidingTicks is { } s && s != NotPresent)
        {
            sliding = new TimeSpan(s);
        }
    }

    private static DateTimeOffset? AbsoluteExpiration(DateTimeOffset creationTime, DistributedCacheEntryOptions options) =>
        options.AbsoluteExpirationRelativeToNow is { } relative ? creationTime + relative : options.AbsoluteExpiration;

    private static long? ExpirationInSeconds(DateTimeOffset creationTime, DateTimeOffset? absolute, DistributedCacheEntryOptions options) =>
        (absolute, options.SlidingExpiration) switch
        {
            ({ } a, { } s) => (long)Math.Min((a - creationTime).TotalSeconds, s.TotalSeconds),
            ({ } a, null) => (long)(a - creationTime).TotalSeconds,
            (null, { } s) => (long)s.TotalSeconds,
            _ => null,
        };
}
