using RcAspNet.Stores.Near;

namespace RcAspNet.Stores.Redis;

/// <summary>The links to a Redis store's servers, and the near cache's part: copies read through a node's link, and evicted by this node's writes.</summary>
internal sealed partial class RedisStore
{
    /// <summary>
    /// A near miss: GET and PTTL in one round trip, the answer kept for as long as the key lives unless an invalidation
    /// overtook it. On a cluster they go to the link's own server and are not redirected: a copy is kept only of what
    /// that server answered. When it redirects them (its slot moved, or is migrating), the near read is dropped and the
    /// redirection followed as an ordinary read follows it (<see cref="RedisCalls.FollowAsync"/>).
    /// </summary>
    private async ValueTask<byte[]?> ReadIntoNearAsync(RedisNode node, NearRead read, CancellationToken cancellationToken)
    {
        byte[]? value;
        TimeSpan lifetime;
        try
        {
            long ttl;
            (value, ttl) = IsCluster
                ? await _calls.RunAsync(node, "get", (Node: node, read.Key), static (db, s) => RedisCommands.GetWithTimeToLiveAsync(s.Node.ServerIn(db.Multiplexer), s.Key), ((byte[]?)null, -2L), cancellationToken, wrongTypeIsMiss: true).ConfigureAwait(false)
                : await _calls.RunAsync(node, "get", read.Key, static (db, key) => RedisCommands.GetWithTimeToLiveAsync(db, key), ((byte[]?)null, -2L), cancellationToken, wrongTypeIsMiss: true).ConfigureAwait(false);
            lifetime = Lifetime(ttl);
        }
        catch (RedirectedReadException redirection)
        {
            // Followed as the ordinary read follows it; one that names no server (or a server the client cannot reach,
            // which it reports alike) is read the ordinary way, which tells them apart.
            _near!.Abandon(read);
            return redirection.Target is null || node.EndPoint is null
                ? await ReadAsync(node, read.Key, cancellationToken).ConfigureAwait(false)
                : await _calls.FollowAsync(read.Key, redirection, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            _near!.Abandon(read);
            throw;
        }

        _near!.Complete(read, value, lifetime);
        return value;
    }

    /// <summary>
    /// The near copy's lifetime from a PTTL reply: -1 is a key without TTL (kept until Redis invalidates it), -2 a key
    /// gone since its GET (expired between the two: not kept).
    /// </summary>
    private static TimeSpan Lifetime(long ttlMs) => ttlMs == -1 ? TimeSpan.MaxValue : TimeSpan.FromMilliseconds(ttlMs);

    /// <summary>The near cache's link to <paramref name="node"/>: null until the link is made, and then reads go to Redis without the near cache.</summary>
    private static ServerLink? NearLinkOf(RedisNode node) => node.Link;

    /// <summary>
    /// Makes the link to <paramref name="node"/>'s server (once it is known: the configured server once connected, a
    /// cluster primary when first routed to). It suspects the node the moment its connection is lost, and again when it
    /// finds another <c>run_id</c> than the one the node was verified with; with the near cache, it also carries the
    /// invalidations that keep the copies coherent.
    /// </summary>
    private void Link(RedisNode node)
    {
        var endPoint = node.EndPoint ?? _topology.Configuration.EndPoints[0];
        var link = node.LinkOrCreate(() => new ServerLink(
            endPoint,
            _respSettings,
            _prefixes,
            _options.OperationTimeout,
            _near,
            count => _metrics.NearInvalidations(_kind, node.Name, count),
            () => node.Suspect(),
            runId => node.Identified(runId),
            () => IsCluster,
            _logger));
        if (_stopping.IsCancellationRequested)
        {
            // Made as the store was disposed (a connect that completed then): DisposeLinks may have run before it.
            link.Dispose();
        }
    }

    /// <summary>This node writes or removes <paramref name="key"/>: its near copy and its GETs in flight (in every store) are not used by a later read.</summary>
    private void Evict(string key)
    {
        _tables.Forget(key);
        _near?.Invalidate(key);
    }

    private void EvictAll<T>(IReadOnlyList<T> items, Func<T, string> keyOf)
    {
        foreach (var item in items)
        {
            Evict(keyOf(item));
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
