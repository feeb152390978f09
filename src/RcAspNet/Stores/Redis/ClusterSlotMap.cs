using System.Globalization;
using System.Net;
using StackExchange.Redis;

namespace RcAspNet.Stores.Redis;

/// <summary>
/// Which primary owns each hash slot of a Redis Cluster, as the multiplexer last learned it: read from its cluster
/// configuration (no I/O), rebuilt when it reports a change or reads a server's configuration again, and corrected slot by
/// slot by MOVED replies (those the multiplexer reports, and those a read followed, <see cref="RedisTopology.FollowedTo"/>).
/// Each server's configuration is its own view, as the client last asked it, and one it has not asked since a slot moved
/// is old: a slot's owner is the primary that claims it with the highest config epoch in any view, as Redis Cluster
/// itself settles claims (a failover and a finished migration raise the new owner's epoch above the old one's).
/// A failed-over or resharded slot so leads to the circuit of the primary that serves it now. A primary that takes over
/// slots while it owned none (a replica promoted, or a node added) is reported (<c>gaining</c>) before the map that
/// routes to it is published: it may lack removals its predecessor acknowledged; so are the first map's primaries
/// (<c>first</c>), which take over from the stand-in node that served every key before. Slots resharded between primaries
/// move with their keys, as the primary that served them had them, but a key moves while its slot migrates, before the
/// slot's owner changes: each primary that took slots from another is reported with it (<c>handedOver</c>) before the
/// map is published too, with the earliest moment the owner of one of those slots last changed (the time of
/// <c>time</c>), so that what was held for the old one since (a clear of its namespaces) holds for the new one. Once the
/// map is published, <c>moved</c> is told. An owner learned from a MOVED holds against the views read before it: a
/// rebuild meanwhile would route the slot back to the server that redirected it, and hand the new owner's removals back
/// to it; a view read after it settles the slot when it names the learned owner, or a claim newer than every claim
/// before it, and the views decide while the learned owner is not connected.
/// </summary>
internal sealed class ClusterSlotMap : IDisposable
{
    /// <summary>
    /// How often the servers' configurations are looked at: the multiplexer reads them again without raising
    /// <c>ConfigurationChanged</c> (which ends only a reconfiguration it blames on a server) on a <c>ConfigureAsync</c>,
    /// the application's or <see cref="RedisTopology.Learn"/>'s, and as it connects to a server it found meanwhile.
    /// </summary>
    private static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(1);

    private readonly IConnectionMultiplexer _connection;
    private readonly Action<IReadOnlyCollection<EndPoint>, bool> _gaining;
    private readonly TimeProvider _time;
    private readonly Action<IReadOnlyDictionary<(EndPoint From, EndPoint To), long>, Func<int, EndPoint?>> _handedOver;
    private readonly Action _moved;
    private readonly Lock _lock = new();
    private readonly EndPoint?[] _lastOwners = new EndPoint?[HashSlot.Count]; // each slot's last known owner (a map may name none for a while)
    private readonly long[] _changedAt = new long[HashSlot.Count]; // when each slot's known owner last changed (the time of _time)
    private readonly Dictionary<EndPoint, ClusterConfiguration> _read = []; // under _lock: each server's configuration, as the map last read it
    private readonly Dictionary<int, (EndPoint Owner, Dictionary<EndPoint, ClusterConfiguration> Before, long Epoch)> _learned = []; // under _lock: slots learned from a MOVED, with the views read before it and the highest epoch they gave the slot
    private Dictionary<EndPoint, ClusterConfiguration>? _viewsAtLearn; // under _lock: the views the last learn found
    private readonly Action<Exception> _checkFailed;
    private readonly ITimer _check;
    private volatile bool _disposed;
    private EndPoint?[]? _owners;
    private HashSet<EndPoint> _primaries = [];

    public ClusterSlotMap(IConnectionMultiplexer connection, TimeProvider time, Action<IReadOnlyCollection<EndPoint>, bool> gaining, Action<IReadOnlyDictionary<(EndPoint From, EndPoint To), long>, Func<int, EndPoint?>> handedOver, Action moved, Action<Exception> checkFailed)
    {
        _connection = connection;
        _time = time;
        _gaining = gaining;
        _handedOver = handedOver;
        _moved = moved;
        _checkFailed = checkFailed;
        connection.ConfigurationChanged += OnConfigurationChanged;
        connection.HashSlotMoved += OnHashSlotMoved;

        // Real time, not the map's clock: the multiplexer reads the configuration again on its own.
        _check = TimeProvider.System.CreateTimer(static map => ((ClusterSlotMap)map!).TryCheck(), this, CheckInterval, CheckInterval);
    }

    /// <summary>Returns the primaries that own slots, as the map knows them; none while the topology is not known.</summary>
    public IReadOnlyCollection<EndPoint> Owners()
    {
        _ = OwnerOf(0);
        lock (_lock)
        {
            return [.. _primaries];
        }
    }

    /// <summary>Returns whether <paramref name="endPoint"/> is a primary that owns slots, as the map knows them.</summary>
    public bool Owns(EndPoint endPoint)
    {
        _ = OwnerOf(0);
        lock (_lock)
        {
            return _primaries.Contains(endPoint);
        }
    }

    /// <summary>Returns when the owner of <paramref name="slot"/> last changed (the time of the map's clock): its keys may have begun to move to another primary since.</summary>
    public long ChangedAt(int slot)
    {
        lock (_lock)
        {
            return _changedAt[slot];
        }
    }

    /// <summary>Returns the primary that serves <paramref name="slot"/>, or null while the topology is not known.</summary>
    public EndPoint? OwnerOf(int slot) => (Volatile.Read(ref _owners) ?? Build(again: false))?[slot];

    /// <summary>
    /// Runs <paramref name="work"/> while no new map is being put in use: what it decides by the map is not undone by a
    /// change half made (a handover moves the removals it gives a primary before the map routes to it).
    /// </summary>
    public void WhileSettled(Action work)
    {
        lock (_lock)
        {
            work();
        }
    }

    /// <summary>Stops following the multiplexer (an application's own one outlives the store).</summary>
    public void Dispose()
    {
        _disposed = true;
        _check.Dispose();
        _connection.ConfigurationChanged -= OnConfigurationChanged;
        _connection.HashSlotMoved -= OnHashSlotMoved;
    }

    /// <summary>Builds the map again from the configurations as the multiplexer last read them, as a reported change does.</summary>
    internal void Rebuild() => Build(again: true);

    // Rebuilt now, so that a primary that took over slots is reported before a call is routed to it.
    private void OnConfigurationChanged(object? sender, EndPointEventArgs e) => Rebuild();

    /// <summary>
    /// Looks, on the timer, as <see cref="Check"/> does. What fails (a look, or a rebuild and what it reports) is logged
    /// and tried again on the next tick, since the configurations a failed build read are not taken as read: a timer's
    /// exception would end the process, and the multiplexer drops what its own <c>ConfigurationChanged</c> handler throws.
    /// </summary>
    private void TryCheck()
    {
        try
        {
            Check();
        }
        catch (Exception exception)
        {
            _checkFailed(exception);
        }
    }

    /// <summary>Rebuilds a map that was built once a server answered the configuration again since it was last read.</summary>
    private void Check()
    {
        if (_disposed || Volatile.Read(ref _owners) is null)
        {
            return;
        }

        bool answered;
        lock (_lock)
        {
            answered = Configurations().Any(c => !_read.TryGetValue(c.EndPoint, out var read) || !ReferenceEquals(read, c.Configuration));
        }

        if (answered)
        {
            Build(again: true);
        }
    }

    /// <summary>Each connected server's configuration, as the multiplexer last read it from that server.</summary>
    private IEnumerable<(EndPoint EndPoint, ClusterConfiguration Configuration)> Configurations()
    {
        foreach (var server in _connection.GetServers())
        {
            if (server.IsConnected && server.ClusterConfiguration is { } configuration)
            {
                yield return (server.EndPoint, configuration);
            }
        }
    }

    /// <summary>
    /// A server redirected a key of <paramref name="slot"/> to <paramref name="owner"/> for good (<c>MOVED</c>): the slot
    /// is routed there from now on, and a primary that owned no slots before is reported first. Returns whether the map
    /// changed.
    /// </summary>
    public bool Learn(int slot, EndPoint owner)
    {
        if ((Volatile.Read(ref _owners) ?? Build(again: false)) is not { } owners || slot is < 0 or >= HashSlot.Count || Equals(owners[slot], owner))
        {
            return false;
        }

        lock (_lock)
        {
            // The map may have been published again since it was read above.
            var current = Volatile.Read(ref _owners) ?? owners;
            if (Equals(current[slot], owner))
            {
                return false;
            }

            if (_primaries.Add(owner))
            {
                _gaining([owner], false);
            }

            if ((_lastOwners[slot] ?? current[slot]) is { } from && !Equals(from, owner))
            {
                _handedOver(new Dictionary<(EndPoint, EndPoint), long> { [(from, owner)] = _changedAt[slot] }, s => s == slot ? owner : current[s]);
            }

            current[slot] = owner;
            var before = ViewsNow();
            _learned[slot] = (owner, before, before.Values.Select(c => Claim(c, slot).Epoch).DefaultIfEmpty(-1).Max());
            _lastOwners[slot] = owner;
            _changedAt[slot] = _time.GetTimestamp();
        }

        _moved();
        return true;
    }

    private void OnHashSlotMoved(object? sender, HashSlotMovedEventArgs moved) => Learn(moved.HashSlot, moved.NewEndPoint);

    /// <summary>
    /// Every server's configuration now, connected or not (one that reconnects may keep its old one until it is read
    /// again), shared by the slots learned while none was read again (a reshard's many MOVEDs).
    /// </summary>
    private Dictionary<EndPoint, ClusterConfiguration> ViewsNow()
    {
        var views = _connection.GetServers().Where(static s => s.ClusterConfiguration is not null).ToArray();
        if (_viewsAtLearn is not { } last || last.Count != views.Length || !views.All(v => last.TryGetValue(v.EndPoint, out var seen) && ReferenceEquals(seen, v.ClusterConfiguration)))
        {
            _viewsAtLearn = last = views.ToDictionary(static v => v.EndPoint, static v => v.ClusterConfiguration!);
        }

        return last;
    }

    /// <summary>The primary a view says serves <paramref name="slot"/>, and the config epoch it gives it; none and -1 if it names none.</summary>
    private static (EndPoint? Owner, long Epoch) Claim(ClusterConfiguration view, int slot) =>
        view.GetBySlot(slot) is { IsReplica: false, EndPoint: { } owner } node ? (owner, ConfigEpoch(node)) : (null, -1);

    /// <summary>
    /// Builds the map from every connected server's configuration, as the multiplexer last read each (a slot goes to the
    /// primary that claims it with the highest config epoch), and publishes it over the one in use (<paramref name="again"/>)
    /// or where there is none. One build at a time: calls go on with the map in use meanwhile, and a build from older
    /// configurations never lands over a newer one. The map in use, or null, while no server is connected.
    /// </summary>
    private EndPoint?[]? Build(bool again)
    {
        EndPoint?[] owners;
        bool changed;
        lock (_lock)
        {
            var current = Volatile.Read(ref _owners);
            if (current is not null && !again)
            {
                return current;
            }

            var views = Configurations().ToArray();
            if (views.Length == 0)
            {
                return current;
            }

            owners = new EndPoint?[HashSlot.Count];
            var epochs = new long[HashSlot.Count];
            foreach (var (_, configuration) in views)
            {
                foreach (var node in configuration.Nodes)
                {
                    if (node.IsReplica || node.EndPoint is null)
                    {
                        continue;
                    }

                    var epoch = ConfigEpoch(node);
                    foreach (var range in node.Slots)
                    {
                        for (var slot = range.From; slot <= range.To && slot < HashSlot.Count; slot++)
                        {
                            if (owners[slot] is null || epoch > epochs[slot])
                            {
                                owners[slot] = node.EndPoint;
                                epochs[slot] = epoch;
                            }
                        }
                    }
                }
            }

            // A slot learned from a MOVED keeps its owner against the views read before it, and against a view read after
            // it that has not heard of the move (gossip reaches servers in turn): it yields to a view read after it that
            // names the learned owner, or a claim with an epoch above every claim of the slot before it (a failover, or
            // a later move). A wrong learned owner redirects the slot's next read, which the map learns in turn; one
            // that is not connected cannot, so the views decide then (a node removed from the cluster, or one the client
            // has not reached yet, which the next redirection teaches again). The multiplexer reads one server again on
            // a MOVED or a lost connection, all of them only on a ConfigureAsync.
            foreach (var (slot, learned) in _learned)
            {
                if (!views.Any(v => v.EndPoint.Equals(learned.Owner)))
                {
                    _learned.Remove(slot);
                    continue;
                }

                EndPoint? settled = null;
                var highest = long.MinValue;
                foreach (var (endPoint, configuration) in views)
                {
                    if ((!learned.Before.TryGetValue(endPoint, out var before) || !ReferenceEquals(before, configuration))
                        && Claim(configuration, slot) is ({ } owner, var epoch)
                        && (owner.Equals(learned.Owner) || epoch > learned.Epoch) && epoch > highest)
                    {
                        (settled, highest) = (owner, epoch);
                    }
                }

                owners[slot] = settled ?? learned.Owner;
                if (settled is not null)
                {
                    _learned.Remove(slot);
                }
            }

            changed = Report(owners);

            // Taken as read once the map they made is in use: a build that failed before is tried again.
            foreach (var (endPoint, configuration) in views)
            {
                _read[endPoint] = configuration;
            }
        }

        // Told outside the lock, as a learned move is.
        if (changed)
        {
            _moved();
        }

        return owners;
    }

    /// <summary>The config epoch a view gives a node: the seventh field of its <c>CLUSTER NODES</c> line; 0 if it has none.</summary>
    private static long ConfigEpoch(ClusterNode node)
    {
        var fields = node.Raw.AsSpan();
        for (var i = 0; i < 6; i++)
        {
            var space = fields.IndexOf(' ');
            if (space < 0)
            {
                return 0;
            }

            fields = fields[(space + 1)..];
        }

        var end = fields.IndexOf(' ');
        return long.TryParse(end < 0 ? fields : fields[..end], NumberStyles.None, CultureInfo.InvariantCulture, out var epoch) ? epoch : 0;
    }

    /// <summary>
    /// Each primary that serves a slot in <paramref name="owners"/> that another primary was known to serve last, with that
    /// one, and the earliest moment the owner of one of those slots last changed.
    /// </summary>
    private Dictionary<(EndPoint From, EndPoint To), long> Handovers(EndPoint?[] owners)
    {
        var pairs = new Dictionary<(EndPoint From, EndPoint To), long>();
        for (var slot = 0; slot < owners.Length; slot++)
        {
            if (_lastOwners[slot] is { } from && owners[slot] is { } to && !Equals(from, to))
            {
                pairs[(from, to)] = pairs.TryGetValue((from, to), out var since) ? Math.Min(since, _changedAt[slot]) : _changedAt[slot];
            }
        }

        return pairs;
    }

    /// <summary>
    /// Publishes a new map, reporting the primaries that own slots now and owned none in the last one. Returns whether
    /// calls go elsewhere now (<c>moved</c> is to be told).
    /// </summary>
    private bool Report(EndPoint?[] owners)
    {
        var primaries = owners.OfType<EndPoint>().ToHashSet();
        bool changed;
        lock (_lock)
        {
            var first = _primaries.Count == 0;
            var gained = primaries.Where(p => !_primaries.Contains(p)).ToArray();

            // Reported before the map is published, so that no call reaches a primary that took over slots before
            // it is told to verify itself. The first map's primaries take over from the stand-in node that served
            // every key until now, and may be handed what it kept.
            if (gained.Length > 0)
            {
                _gaining(gained, first);
            }

            var handedOver = Handovers(owners);
            if (handedOver.Count > 0)
            {
                _handedOver(handedOver, s => owners[s]);
            }

            var now = _time.GetTimestamp();
            for (var slot = 0; slot < owners.Length; slot++)
            {
                if (owners[slot] is { } owner && (first || !Equals(_lastOwners[slot], owner)))
                {
                    _lastOwners[slot] = owner;
                    _changedAt[slot] = now;
                }
            }

            // The first map changes where keys go too: removals kept before the cluster was known sit with the stand-in
            // node that served every key until now.
            changed = first || Volatile.Read(ref _owners) is not { } old || !old.AsSpan().SequenceEqual(owners);
            _primaries = primaries;
            Volatile.Write(ref _owners, owners);
        }

        return changed;
    }
}
