namespace RcAspNet.Stores.Redis;

/// <summary>
/// The synchronous commands of a Redis store, for the synchronous members of <c>IDistributedCache</c>: each runs on the
/// caller's thread through the <see cref="BlockingRedisClient"/>, never waiting on the thread pool, with the same
/// nodes, circuits, removals and near cache as the asynchronous ones.
/// </summary>
internal sealed partial class RedisStore
{
    public byte[]? Get(string key)
    {
        var node = _topology.NodeOf(key);
        if (_near is null || !node.Circuit.TryEnter() || NearLinkOf(node) is not { } link)
        {
            return Read(node, key);
        }

        if (_near.TryGet(key, link, out var copy))
        {
            _metrics.NearHit(_kind, node.Name);
            return copy;
        }

        if (_near.BeginRead(key, link) is not { } read)
        {
            return Read(node, key);
        }

        // As ReadIntoNearAsync: on a cluster, a copy only of what the link's own server answered.
        (byte[]? Value, long TimeToLiveMs) reply;
        try
        {
            reply = IsCluster
                ? _calls.Run(node, "get", (link.EndPoint, key), static (client, s, deadline) => client.GetWithTimeToLiveOn(s.EndPoint, s.key, deadline), ((byte[]?)null, -2L), wrongTypeIsMiss: true)
                : _calls.Run(node, "get", key, static (client, key, deadline) => client.GetWithTimeToLive(key, deadline), ((byte[]?)null, -2L), wrongTypeIsMiss: true);
        }
        catch (RedirectedReadException redirection)
        {
            _near.Abandon(read);
            return Follow(key, redirection);
        }
        catch
        {
            _near.Abandon(read);
            throw;
        }

        _near.Complete(read, reply.Value, Lifetime(reply.TimeToLiveMs));
        return reply.Value;
    }

    public void Set(string key, byte[] value, TimeSpan timeToLive, bool replaces)
    {
        Evict(key);
        try
        {
            if (replaces)
            {
                _recent.Add(key);
            }

            _calls.Run(
                _topology.NodeOf(key),
                "set",
                (key, value, timeToLive),
                static (client, s, deadline) =>
                {
                    client.Set(s.key, s.value, RedisCommands.Milliseconds(s.timeToLive), deadline);
                    return true;
                },
                false,
                keepOnFailure: replaces ? KeyOf : null);
        }
        finally
        {
            Evict(key);
        }
    }

    public RcRemovalResult Delete(string key)
    {
        Evict(key);
        try
        {
            _recent.Add(key);
            return _calls.Remove(_topology.NodeOf(key), key);
        }
        finally
        {
            Evict(key);
        }
    }

    public bool Renew(string key, ReadOnlyMemory<byte> header, TimeSpan timeToLive)
    {
        Evict(key);
        try
        {
            return _calls.Run(_topology.NodeOf(key), "expire", (key, header, timeToLive), static (client, s, deadline) => client.Renew(s.key, s.header, RedisCommands.Milliseconds(s.timeToLive), deadline), false);
        }
        finally
        {
            Evict(key);
        }
    }

    /// <summary>
    /// Reads a key with one GET, without the near cache: on a cluster primary, answered by that server itself, and a
    /// redirection followed once (<see cref="Follow"/>); before the slot map is known, as the client routes it.
    /// </summary>
    private byte[]? Read(RedisNode node, string key)
    {
        if (node.EndPoint is not { } endPoint)
        {
            return _calls.Run(node, "get", key, static (client, key, deadline) => client.Get(key, deadline), null, wrongTypeIsMiss: true);
        }

        try
        {
            return _calls.Run(node, "get", (EndPoint: endPoint, Key: key), static (client, s, deadline) => client.GetOn(s.EndPoint, s.Key, deadline), null, wrongTypeIsMiss: true);
        }
        catch (RedirectedReadException redirection)
        {
            return Follow(key, redirection);
        }
    }

    /// <summary>
    /// Follows a redirection of a cluster GET once, as <see cref="RedisCalls.FollowAsync"/> does: to the node
    /// <see cref="RedisTopology.FollowedTo"/> allows, through its circuit, answered by that server itself.
    /// </summary>
    private byte[]? Follow(string key, RedirectedReadException redirection)
    {
        if (redirection.Target is not { } target || _topology.FollowedTo(key, redirection.Slot, target, redirection.Asking) is not { } owner)
        {
            return null;
        }

        try
        {
            return _calls.Run(owner, "get", (EndPoint: target, Key: key, redirection.Asking), static (client, s, deadline) => client.GetOn(s.EndPoint, s.Key, deadline, s.Asking), null, wrongTypeIsMiss: true);
        }
        catch (RedirectedReadException)
        {
            return null;
        }
    }
}
