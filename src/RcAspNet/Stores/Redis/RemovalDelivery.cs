using Microsoft.Extensions.Logging;
using RcAspNet.Diagnostics;

namespace RcAspNet.Stores.Redis;

/// <summary>
/// Brings a server back into service after its circuit opened: it proves the server answers (PING), verifies that it is
/// the server it was (its <c>run_id</c>) when its connection was lost or it took over slots, and delivers again the
/// recent removals it may have lost when it is not; then it delivers every removal kept for it, in order, the removals
/// of keys a page at a time. Only then may the circuit close. It also moves removals kept for a cluster primary to the
/// primary that owns their slots now.
/// </summary>
internal sealed partial class RemovalDelivery(
    RedisTopology topology,
    RedisCalls calls,
    RecentRemovals recent,
    RecentRemovals registered,
    string[] prefixes,
    Func<IRcStore> owner,
    Action<string> evict,
    string kind,
    RcMetrics metrics,
    ILogger logger)
{
    /// <summary>Recovers <paramref name="node"/>: throws while it cannot serve yet, so that its circuit stays open and it is tried again later.</summary>
    public async Task RecoverAsync(RedisNode node)
    {
        if (topology.Kind == TopologyKind.Cluster)
        {
            // Before the server is asked anything: what belongs to another primary now goes there even if this one is gone.
            Reroute(node);
        }

        await calls.DeliverAsync(node, "ping", db => topology.ServerOf(db.Multiplexer, node).PingAsync()).ConfigureAwait(false);
        if (topology.Kind == TopologyKind.Cluster)
        {
            // The PING may have been the first call to connect: a store that did not know it serves a cluster until now
            // moves what its stand-in node kept to the primaries that own it, rather than deliver it to one of them.
            Reroute(node);
        }

        bool unverified;
        lock (node.Sync)
        {
            unverified = node.Unverified;
        }

        if (unverified)
        {
            await VerifyAsync(node).ConfigureAwait(false);
        }

        var delivered = 0;
        while (true)
        {
            List<Removal> next;
            lock (node.Sync)
            {
                next = node.Removals.Next(RedisCommands.PageSize);
            }

            if (next.Count == 0)
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
                node.Removals.Delivered();
                if (next.Exists(static r => r.Kind == RemovalKind.Clear))
                {
                    node.ClearGone();
                }
            }

            foreach (var removal in next)
            {
                // Delivered late: the window in which the server could still lose it starts now.
                recent.Add(removal);
                delivered += removal.Size;
                metrics.RemovalsDelivered(kind, node.Name, removal.Size);
                if (removal.Kind == RemovalKind.Clear)
                {
                    metrics.NamespaceCleared(kind, node.Name);
                }
            }
        }

        if (delivered > 0)
        {
            LogDelivered(logger, node.Name, delivered);
        }
    }

    /// <summary>
    /// A cluster primary, <paramref name="to"/>, takes over slots that <paramref name="from"/> served, the owner of one of
    /// which last changed at <paramref name="changedAt"/>. A clear held for <paramref name="from"/> while their keys may
    /// have been moving (<see cref="RedisNode.HeldClearSince"/>), delivered or not, may have missed the keys it handed
    /// over (the keys folded into it are known no more, and it scans the old primary, which may no longer hold them), so
    /// <paramref name="to"/> is kept one too, of all its namespaces, before calls are routed to it; and one kept for
    /// <paramref name="from"/> later, within the window, is kept for <paramref name="to"/> too
    /// (<see cref="RedisNode.Keep"/>). Keys and tags kept by name whose slots go to <paramref name="to"/>
    /// (<paramref name="movesTo"/>) are kept by it too before calls are routed to it, so that no read of them reaches it
    /// before it holds their removal back, and leave <paramref name="from"/> as <see cref="Reroute()"/> would move them.
    /// </summary>
    public void HandOver(RedisNode from, RedisNode to, long changedAt, Func<string, bool> movesTo)
    {
        from.GaveSlotsTo(to);
        if (from.HeldClearSince(changedAt))
        {
            calls.KeepOn(to, Removal.OfClear(prefixes));
        }

        List<Removal> movable;
        lock (from.Sync)
        {
            movable = from.Removals.Movable();
        }

        Move(from, movable, key => movesTo(key) ? to : from);
    }

    /// <summary>A cluster's slots moved: each removal kept for a node that no longer owns its key goes to the node that does.</summary>
    public void Reroute()
    {
        foreach (var node in topology.Nodes)
        {
            if (node.Removals.Size > 0)
            {
                Reroute(node);
            }
        }
    }

    /// <summary>
    /// Moves what <paramref name="node"/> keeps but no longer serves to the node that does. Where each removal goes is
    /// decided under the slot map's lock and outside the node's (routing may rebuild the slot map, whose lock is taken
    /// before a node's). Each is kept by its new node before it leaves this one, so that it is never pending nowhere: a
    /// read meanwhile would find neither node holding it back. (One this node delivers meanwhile is delivered twice: at
    /// most entries registered since are deleted too, which is a miss.)
    /// </summary>
    private void Reroute(RedisNode node)
    {
        var clear = false;

        // Read and decided while the slot map is not changing: a handover half made (the removals it gives a primary
        // moved, the map not yet routing to it) would otherwise send them back, or move them a second time.
        topology.WhileSlotsSettled(() =>
        {
            List<Removal> movable;
            lock (node.Sync)
            {
                movable = node.Removals.Movable();
                clear = node.Removals.Clear is not null;
            }

            Move(node, movable, topology.NodeOf);
        });

        if (clear && !topology.Owners().Contains(node))
        {
            // A clear kept for a primary that serves no slot now: its keys live on whichever primaries took its slots.
            bool kept;
            lock (node.Sync)
            {
                kept = node.Removals.Clear is not null;
            }

            foreach (var other in kept ? topology.Owners() : [])
            {
                calls.Keep(other, Removal.OfClear(prefixes));
            }

            lock (node.Sync)
            {
                if (node.Removals.TakeClear())
                {
                    node.ClearGone();
                }
            }
        }
    }

    /// <summary>
    /// Moves each of <paramref name="movable"/>, kept for <paramref name="node"/>, to the node <paramref name="where"/> routes
    /// its key or tag to, when that is another: kept by that node first, then taken off this one.
    /// </summary>
    private void Move(RedisNode node, List<Removal> movable, Func<string, RedisNode> where)
    {
        foreach (var removal in movable)
        {
            if (removal.Kind == RemovalKind.Tag)
            {
                var target = where(removal.Tag.Routing);
                if (target != node)
                {
                    calls.KeepOn(target, removal);
                    Take(node, removal, null);
                }

                continue;
            }

            var leaving = removal.Keys.Select(k => (Key: k, Node: where(k))).Where(p => p.Node != node).ToArray();
            if (leaving.Length > 0)
            {
                foreach (var group in leaving.GroupBy(static p => p.Node))
                {
                    // On the node decided above, even if routing changed since: kept again for this node, the keys
                    // would be merged into what it already keeps, which is taken out next.
                    calls.KeepOn(group.Key, Removal.OfKeys([.. group.Select(static p => p.Key)]));
                }

                Take(node, removal, [.. leaving.Select(static p => p.Key)]);
            }
        }
    }

    private static bool Take(RedisNode node, Removal removal, IReadOnlyCollection<string>? keys)
    {
        lock (node.Sync)
        {
            return node.Removals.Take(removal, keys);
        }
    }

    /// <summary>
    /// Reads the server's identity; when it is not the one last seen (or none was), what it may have lost is made good
    /// before it is taken as verified: recent removals are kept for it again, and the entries registered lately under
    /// its tags are deleted wherever they live (an invalidation of the tag would no longer find them). A failure
    /// leaves it unverified, so the next recovery starts over.
    /// </summary>
    private async Task VerifyAsync(RedisNode node)
    {
        var suspicions = node.Suspicions;
        var runId = calls.DeliverDirect(node, "identify", (client, deadline) => client.RunId(node.EndPoint, deadline));
        bool lost;
        long since;
        lock (node.Sync)
        {
            lost = node.MustReplay || runId != node.RunId;
            since = node.SuspectedAt;
        }

        if (lost)
        {
            bool RoutesHere(string key) => topology.NodeOf(key) == node;
            var replay = recent.For(RoutesHere, since);
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

            var members = registered.For(RoutesHere, since);
            await DeleteUnregisteredAsync(members).ConfigureAwait(false);
            LogIdentityChanged(logger, node.Name, replay?.Sum(static r => r.Size) ?? -1, members?.Sum(static r => r.Size) ?? -1);
        }

        node.Identify(runId, suspicions);
    }

    /// <summary>
    /// Deletes, through the store that owns every server, the entries whose registration under a tag the server may
    /// have lost (those on this server are kept for it, and delivered by this recovery); when the window of them is
    /// incomplete, every server's namespaces are cleared instead. What a server cannot take is kept for it.
    /// </summary>
    private async Task DeleteUnregisteredAsync(List<Removal>? members)
    {
        if (members is null)
        {
            foreach (var prefix in prefixes)
            {
                await QuietlyAsync(owner().ClearAsync(prefix, CancellationToken.None)).ConfigureAwait(false);
            }
        }
        else if (members.Count > 0)
        {
            await QuietlyAsync(owner().DeleteManyAsync([.. members.SelectMany(static m => m.Keys).Distinct(StringComparer.Ordinal)], CancellationToken.None)).ConfigureAwait(false);
        }

        static async Task QuietlyAsync(ValueTask<RcRemovalResult> removal)
        {
            try
            {
                await removal.ConfigureAwait(false);
            }
            catch (RcCacheException)
            {
                // FailureMode=Throw: what a server could not take was kept for it before this was thrown.
            }
        }
    }

    private async Task DeliverAsync(RedisNode node, List<Removal> removals)
    {
        var removal = removals[0];
        switch (removal.Kind)
        {
            case RemovalKind.Keys:
                string[] keys = [.. removals.SelectMany(static r => r.Keys).Distinct(StringComparer.Ordinal)];
                await calls.DeliverAsync(node, "delete_many", db => RedisCommands.DeleteAsync(db, keys, topology.Kind == TopologyKind.Cluster)).ConfigureAwait(false);
                foreach (var key in keys)
                {
                    evict(key);
                }

                break;
            case RemovalKind.Tag:
                if (!removal.IsBumped)
                {
                    await calls.DeliverAsync(node, "invalidate_tag", db => RedisCommands.BumpTagAsync(db, removal.Tag, removal.Drain!, TagKeys.VersionLifetime)).ConfigureAwait(false);
                    lock (node.Sync)
                    {
                        // The version changed: what is left is the deletion of the moved members.
                        node.Removals.Replace(removal, removal = removal.Bumped());
                    }
                }

                await DrainAsync(node, removal.Drain!).ConfigureAwait(false);
                break;
            case RemovalKind.Clear:
                await ClearAsync(node, removal.Keys).ConfigureAwait(false);
                break;
        }
    }

    /// <summary>
    /// A clear found a tag's set: a members set is invalidated (its version changed, its members moved and deleted); a
    /// moved set is drained, and goes with its last member (a DEL of it could delete one that a late invalidation of the
    /// tag moved members to again under the same name).
    /// </summary>
    private async Task ClearTagAsync(RedisNode node, string key, TagKeys tag)
    {
        if (tag.Members != key)
        {
            await DrainAsync(node, key).ConfigureAwait(false);
            return;
        }

        var drain = Removal.OfTag(tag).Drain!;
        await calls.DeliverAsync(node, "invalidate_tag", db => RedisCommands.BumpTagAsync(db, tag, drain, TagKeys.VersionLifetime)).ConfigureAwait(false);
        await DrainAsync(node, drain).ConfigureAwait(false);
    }

    /// <summary>
    /// Deletes the members of a moved tag set a page at a time: each page's members on their own servers (those on this
    /// server are kept for it and delivered by this recovery), then the page is taken out of the set, so that a page
    /// sent again after a timeout is deleted again, never skipped.
    /// </summary>
    private async Task DrainAsync(RedisNode node, string drain)
    {
        while (await calls.DeliverAsync(node, "invalidate_tag", db => RedisCommands.MembersAsync(db, drain)).ConfigureAwait(false) is { Length: > 0 } page)
        {
            try
            {
                await owner().DeleteManyAsync(page, CancellationToken.None).ConfigureAwait(false);
            }
            catch (RcCacheException)
            {
                // FailureMode=Throw: the members a server could not take were kept for it before this was thrown.
            }

            await calls.DeliverAsync(node, "invalidate_tag", db => RedisCommands.ForgetMembersAsync(db, drain, page)).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Deletes every key under <paramref name="clearPrefixes"/> on the node, a page of SCAN at a time (an empty prefix:
    /// every key of its database). A tag's members set found there is invalidated instead (its members may live on other
    /// servers), and its version left, changed; a set an invalidation moved members to is drained: clearing one server
    /// never leaves entries elsewhere, or registered during the clear, that an invalidation of the tag would miss
    /// (<see cref="TagKeys.OfSet"/>).
    /// </summary>
    private async Task ClearAsync(RedisNode node, string[] clearPrefixes)
    {
        var database = await topology.GetDatabaseAsync(CancellationToken.None).ConfigureAwait(false);
        var server = topology.ServerOf(database.Multiplexer, node);
        foreach (var pattern in clearPrefixes.SelectMany(RedisCommands.ClearPatterns))
        {
            // Without a namespace (an empty prefix), every key of the database, as rc's clear() flushes it.
            var keys = server.KeysAsync(database.Database, pattern, RedisCommands.PageSize).GetAsyncEnumerator();
            await using (keys.ConfigureAwait(false))
            {
                while (await calls.DeliverAsync(node, "clear", _ => RedisCommands.NextPageAsync(keys)).ConfigureAwait(false) is { Length: > 0 } page)
                {
                    var (deleted, sets) = TagKeys.OfClearPage(page);
                    foreach (var (key, tag) in sets)
                    {
                        await ClearTagAsync(node, key, tag).ConfigureAwait(false);
                    }

                    if (deleted.Count > 0)
                    {
                        await calls.DeliverAsync(node, "clear", db => RedisCommands.DeleteAsync(db, [.. deleted], topology.Kind == TopologyKind.Cluster)).ConfigureAwait(false);
                    }

                    foreach (var key in deleted)
                    {
                        evict(key);
                    }
                }
            }
        }
    }
}
