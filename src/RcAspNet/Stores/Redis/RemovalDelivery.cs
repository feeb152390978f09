using Microsoft.Extensions.Logging;
using RcAspNet.Diagnostics;

namespace RcAspNet.Stores.Redis;

/// <summary>
/// Brings a server back into service after its circuit opened: it proves the server answers (PING), verifies that it is
/// the server it was (its <c>run_id</c>) when its connection was lost or it took over slots, and delivers again the
/// recent removals it may have lost when it is not; then it delivers every removal kept for it, in order. Only then
/// may the circuit close. It also moves removals kept for a cluster primary to the primary that owns their slots now.
/// </summary>
internal sealed partial class RemovalDelivery(
    RedisTopology topology,
    RedisCalls calls,
    RecentRemovals recent,
    string[] prefixes,
    Func<IRcStore> owner,
    string kind,
    RcMetrics metrics,
    ILogger logger)
{
    /// <summary>Recovers <paramref name="node"/>: throws while it cannot serve yet, so that its circuit stays open and it is tried again later.</summary>
    public async Task RecoverAsync(RedisNode node)
    {
        await calls.DeliverAsync(node, "ping", db => topology.ServerOf(db.Multiplexer, node).PingAsync()).ConfigureAwait(false);
        bool unverified;
        lock (node.Sync)
        {
            unverified = node.Unverified;
        }

        if (unverified)
        {
            await VerifyAsync(node).ConfigureAwait(false);
        }

        if (topology.Kind == TopologyKind.Cluster)
        {
            Reroute(node);
        }

        var delivered = 0;
        while (true)
        {
            Removal? next;
            lock (node.Sync)
            {
                next = node.Removals.Next();
            }

            if (next is null)
            {
                break;
            }

            try
            {
                await DeliverAsync(node, next).ConfigureAwait(false);
            }
            catch
            {
                lock (node.Sync)
                {
                    node.Removals.Abandon();
                }

                throw;
            }

            lock (node.Sync)
            {
                node.Removals.Delivered(next);
            }

            delivered += next.Size;
            metrics.RemovalsDelivered(kind, node.Name, next.Size);
            if (next.Kind == RemovalKind.Clear)
            {
                metrics.NamespaceCleared(kind, node.Name);
            }
        }

        if (delivered > 0)
        {
            LogDelivered(logger, node.Name, delivered);
        }
    }

    /// <summary>A cluster's slots moved: each removal kept for a node that no longer owns its key goes to the node that does.</summary>
    public void Reroute()
    {
        foreach (var node in topology.Nodes)
        {
            Reroute(node);
        }
    }

    private void Reroute(RedisNode node)
    {
        List<Removal> moved;
        lock (node.Sync)
        {
            moved = node.Removals.TakeWhere(key => topology.NodeOf(key) == node);
        }

        foreach (var removal in moved)
        {
            if (removal.Kind == RemovalKind.Tag)
            {
                calls.Keep(topology.NodeOf(removal.Tag.Routing), removal);
                continue;
            }

            foreach (var group in removal.Keys.GroupBy(topology.NodeOf))
            {
                calls.Keep(group.Key, Removal.OfKeys([.. group]));
            }
        }
    }

    /// <summary>Reads the server's identity; when it is not the one last seen (or none was), recent removals are delivered to it again.</summary>
    private async Task VerifyAsync(RedisNode node)
    {
        var suspicions = node.Suspicions;
        var runId = calls.DeliverDirect(node, "identify", (client, deadline) => client.RunId(node.EndPoint, deadline));
        bool lost;
        lock (node.Sync)
        {
            lost = node.MustReplay || runId != node.RunId;
        }

        if (lost)
        {
            var replay = recent.For(key => topology.NodeOf(key) == node);
            if (replay is null)
            {
                calls.Keep(node, Removal.OfClear(prefixes));
            }
            else
            {
                foreach (var removal in replay)
                {
                    calls.Keep(node, removal);
                }
            }

            LogIdentityChanged(logger, node.Name, replay?.Sum(static r => r.Size) ?? -1);
        }

        node.Identify(runId, suspicions);
    }

    private async Task DeliverAsync(RedisNode node, Removal removal)
    {
        switch (removal.Kind)
        {
            case RemovalKind.Keys:
                await calls.DeliverAsync(node, "delete_many", db => RedisCommands.DeleteAsync(db, removal.Keys, topology.Kind == TopologyKind.Cluster)).ConfigureAwait(false);
                break;
            case RemovalKind.Tag:
                if (!removal.IsBumped)
                {
                    await calls.DeliverAsync(node, "invalidate_tag", db => RedisCommands.BumpTagAsync(db, removal.Tag, removal.Drain!, TagKeys.VersionLifetime)).ConfigureAwait(false);
                }

                try
                {
                    while (await calls.DeliverAsync(node, "invalidate_tag", db => RedisCommands.PopMembersAsync(db, removal.Drain!)).ConfigureAwait(false) is { Length: > 0 } page)
                    {
                        // Members on other servers are removed through their own circuits; those on this one are kept
                        // for it, and delivered by this recovery before it ends.
                        await owner().DeleteManyAsync(page, CancellationToken.None).ConfigureAwait(false);
                    }
                }
                catch when (!removal.IsBumped)
                {
                    lock (node.Sync)
                    {
                        node.Removals.Replace(removal, removal.Bumped());
                    }

                    throw;
                }

                break;
            case RemovalKind.Clear:
                await ClearAsync(node, removal.Keys).ConfigureAwait(false);
                break;
        }
    }

    /// <summary>Deletes every key under <paramref name="clearPrefixes"/> on the node, a page of SCAN at a time; an empty prefix flushes its database.</summary>
    private async Task ClearAsync(RedisNode node, string[] clearPrefixes)
    {
        var database = await topology.GetDatabaseAsync(CancellationToken.None).ConfigureAwait(false);
        var server = topology.ServerOf(database.Multiplexer, node);
        foreach (var prefix in clearPrefixes)
        {
            if (prefix.Length == 0)
            {
                calls.DeliverDirect(node, "clear", (client, deadline) =>
                {
                    client.FlushDatabase(node.EndPoint, deadline);
                    return true;
                });
                continue;
            }

            var keys = server.KeysAsync(database.Database, RedisCommands.PrefixPattern(prefix), RedisCommands.PageSize).GetAsyncEnumerator();
            await using (keys.ConfigureAwait(false))
            {
                while (await calls.DeliverAsync(node, "clear", _ => RedisCommands.NextPageAsync(keys)).ConfigureAwait(false) is { Length: > 0 } page)
                {
                    await calls.DeliverAsync(node, "clear", db => RedisCommands.DeleteAsync(db, page, topology.Kind == TopologyKind.Cluster)).ConfigureAwait(false);
                }
            }
        }
    }
}
