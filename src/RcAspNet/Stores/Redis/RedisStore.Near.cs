using RcAspNet.Stores.Near;
using StackExchange.Redis;

namespace RcAspNet.Stores.Redis;

/// <summary>The near cache's part of a Redis store: copies read through a node's invalidation link, and evicted by this node's writes.</summary>
internal sealed partial class RedisStore
{
    /// <summary>A near miss: GET and PTTL in one round trip, the answer kept for as long as the key lives unless an invalidation overtook it.</summary>
    private async ValueTask<byte[]?> ReadIntoNearAsync(RedisNode node, NearRead read, CancellationToken cancellationToken)
    {
        try
        {
            var (value, ttl) = await _calls.RunAsync(node, "get", read.Key, static (db, key) => RedisCommands.GetWithTimeToLiveAsync(db, key), (RedisValue.Null, (TimeSpan?)null), cancellationToken, wrongTypeIsMiss: true).ConfigureAwait(false);
            byte[]? bytes = value;
            _near!.Complete(read, bytes, ttl ?? TimeSpan.MaxValue);
            return bytes;
        }
        catch
        {
            _near!.Abandon(read);
            throw;
        }
    }

    /// <summary>The near copy's lifetime from a PTTL reply: -1 is a key without TTL (kept until Redis invalidates it).</summary>
    private static TimeSpan Lifetime(long ttlMs) => ttlMs == -1 ? TimeSpan.MaxValue : TimeSpan.FromMilliseconds(ttlMs);

    /// <summary>
    /// The near cache's link to <paramref name="node"/>, made on first use; null while the topology is not known yet
    /// (a cluster's keys must not be copied through the link of the one node first reached).
    /// </summary>
    private InvalidationLink? NearLinkOf(RedisNode node)
    {
        if (node.Link is { } link)
        {
            return link;
        }

        if (node.EndPoint is null && _topology.Kind != TopologyKind.Server)
        {
            return null;
        }

        var endPoint = node.EndPoint ?? _topology.Configuration.EndPoints[0];
        return node.LinkOrCreate(() => new InvalidationLink(endPoint, _respSettings, _prefixes, _options.OperationTimeout, _near!, count => _metrics.NearInvalidations(_kind, node.Name, count), _logger));
    }

    /// <summary>A write through this node: its own copy goes at once (invalidations from Redis follow for everyone's).</summary>
    private void Evict(string key) => _near?.Invalidate(key);

    private void EvictAll<T>(IReadOnlyList<T> items, Func<T, string> keyOf)
    {
        if (_near is null)
        {
            return;
        }

        foreach (var item in items)
        {
            _near.Invalidate(keyOf(item));
        }
    }

    private void DisposeLinks()
    {
        foreach (var node in _topology.Nodes)
        {
            node.Link?.Dispose();
        }
    }
}
