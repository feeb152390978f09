using StackExchange.Redis;

namespace RcAspNet.Stores;

/// <summary>A store on Redis servers, which can hand out its connections for raw commands (rc's <c>get_client</c>).</summary>
internal interface IRedisBackedStore
{
    /// <summary>Returns the Redis connections by shard name, connecting first where needed.</summary>
    ValueTask<IReadOnlyDictionary<string, IConnectionMultiplexer>> GetConnectionsAsync(CancellationToken cancellationToken);
}
