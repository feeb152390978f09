using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace RcAspNet.Stores.Redis;

/// <summary>
/// The servers of one Redis store and the way to them: one lazily connected <see cref="ConnectionMultiplexer"/>
/// (failing fast while a server is unreachable, instead of queueing commands until they time out), or the application's
/// own, whether it reaches one server or a cluster, and a <see cref="RedisNode"/> for each server: the configured one, or on a cluster each
/// primary, found by the slot map the client keeps. A node whose connection is lost is suspected, since the server
/// behind it may come back without what it acknowledged; so is a primary that takes over slots.
/// </summary>
internal sealed partial class RedisTopology : IAsyncDisposable
{
    /// <summary>How often, at most, the multiplexer is nudged to connect to one server a redirection named (<see cref="Learn"/>).</summary>
    private static readonly TimeSpan NudgeInterval = TimeSpan.FromMilliseconds(250);

    private readonly ConfigurationOptions _configuration;
    private readonly string _shard;
    private readonly TimeSpan _timeout;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Func<string, EndPoint?, RedisNode> _createNode;
    private readonly Action<IReadOnlyCollection<RedisNode>, bool> _slotsGained;
    private readonly Action<RedisNode, RedisNode, long, Func<string, bool>> _slotsHandedOver;
    private readonly Action _slotsMoved;
    private readonly Action<RedisTopology> _connected;
    private readonly Action<RedisNode> _nodeAdded;
    private readonly IConnectionMultiplexer? _shared;
    private readonly ConcurrentDictionary<EndPoint, RedisNode> _nodes = new();
    private readonly ConcurrentDictionary<EndPoint, long> _nudged = new();
    private readonly RedisNode[] _serverOnly;
    private readonly Lock _connectLock = new();
    private bool _disposed; // under _connectLock
    private Task<IConnectionMultiplexer>? _connecting;
    private IConnectionMultiplexer? _connection;
    private IDatabase? _database;
    private ClusterSlotMap? _slots;
    private int _kind;

    /// <param name="configuration">The client configuration of the server or cluster.</param>
    /// <param name="shard">The store's shard name, the name of its first node.</param>
    /// <param name="timeout">How long a connect may take before a call stops waiting for it.</param>
    /// <param name="time">The clock of that wait.</param>
    /// <param name="logger">Where failed connects are logged.</param>
    /// <param name="createNode">Makes the node of a server, by name and endpoint (null for the configured server).</param>
    /// <param name="slotsGained">Told which cluster primaries take over slots they did not own, before calls are routed to them, and whether they are the first map's.</param>
    /// <param name="slotsHandedOver">
    /// Told, before calls are routed to it, of each cluster primary that takes over slots another primary served (that
    /// one first), and when the owner of one of those slots last changed (the time of <paramref name="time"/>).
    /// </param>
    /// <param name="slotsMoved">Told once calls are routed by the new owners.</param>
    /// <param name="connected">Told when the multiplexer has connected.</param>
    /// <param name="nodeAdded">Told of a cluster primary's node the first time it is routed to (a node made by a call that lost the race to another is dropped untold).</param>
    /// <param name="shared">
    /// The application's own multiplexer, used instead of one of the store's own (its configuration is then
    /// <paramref name="configuration"/>, read from it, which the library's own connections use); null to connect.
    /// </param>
    public RedisTopology(ConfigurationOptions configuration, string shard, TimeSpan timeout, TimeProvider time, ILogger logger, Func<string, EndPoint?, RedisNode> createNode, Action<IReadOnlyCollection<RedisNode>, bool> slotsGained, Action<RedisNode, RedisNode, long, Func<string, bool>> slotsHandedOver, Action slotsMoved, Action<RedisTopology> connected, Action<RedisNode> nodeAdded, IConnectionMultiplexer? shared = null)
    {
        _shared = shared;
        _configuration = configuration.Clone();
        _configuration.AbortOnConnectFail = false;

        // A command for a server that is not connected fails at once, instead of waiting in the client's backlog until
        // it times out: a dead server then costs a call nothing, and its circuit opens after the threshold.
        _configuration.BacklogPolicy = BacklogPolicy.FailFast;
        _shard = shard;
        _timeout = timeout;
        _time = time;
        _logger = logger;
        _createNode = createNode;
        _slotsGained = slotsGained;
        _slotsHandedOver = slotsHandedOver;
        _slotsMoved = slotsMoved;
        _connected = connected;
        _nodeAdded = nodeAdded;
        Server = createNode(shard, null);
        _serverOnly = [Server];
    }

    /// <summary>Gets the configured server's node: the one server, or a cluster's calls before its topology is known.</summary>
    public RedisNode Server { get; }

    public ConfigurationOptions Configuration => _configuration;

    /// <summary>Gets the database once connected; null before.</summary>
    public IDatabase? Database => _database;

    /// <summary>Gets what the configuration reaches; <see cref="TopologyKind.Unknown"/> until a server has answered.</summary>
    public TopologyKind Kind
    {
        get
        {
            var kind = (TopologyKind)Volatile.Read(ref _kind);
            if (kind != TopologyKind.Unknown || _connection is not { } connection)
            {
                return kind;
            }

            var connected = connection.GetServers().Where(static s => s.IsConnected).ToArray();
            if (connected.Length == 0)
            {
                return TopologyKind.Unknown;
            }

            kind = connected.Any(static s => s.ServerType == ServerType.Cluster) ? TopologyKind.Cluster : TopologyKind.Server;
            Volatile.Write(ref _kind, (int)kind);
            return kind;
        }
    }

    /// <summary>Gets every node made so far: the configured server's, then each cluster primary's.</summary>
    public IEnumerable<RedisNode> Nodes => _nodes.IsEmpty ? _serverOnly : [Server, .. _nodes.Values];

    /// <summary>The node that serves <paramref name="key"/>: on a cluster, the primary that owns its slot now; else the server.</summary>
    public RedisNode NodeOf(string key) =>
        SlotMap() is { } slots && slots.OwnerOf(HashSlot.Of(key)) is { } owner ? NodeAt(owner) : Server;

    /// <summary>
    /// A server redirected <paramref name="key"/>, of <paramref name="slot"/>, to <paramref name="owner"/> for good: on a
    /// cluster whose slot map is known, the slot is routed there (<see cref="ClusterSlotMap.Learn"/>). While the
    /// multiplexer is not connected to that server, it is nudged to connect, whether or not the slot map learned the
    /// move from the client already (<see cref="ClusterSlotMap"/>'s <c>HashSlotMoved</c>), at most once per
    /// <see cref="NudgeInterval"/> for each server (a later redirection nudges again): it reads the
    /// cluster's configuration again, which connects 2.x to the server, and it is sent the key's <c>EXISTS</c> as it
    /// routes it. 3.4.35 leaves a server that owned no slots when it read the configuration without a connection, and
    /// with <c>BacklogPolicy.FailFast</c> a command sent to it fails before it would make one; it connects to it when it
    /// follows a redirection there itself, which that <c>EXISTS</c> gets from the slot's old primary, or from any
    /// primary while its own map names the unconnected one.
    /// </summary>
    public void Learn(string key, int slot, EndPoint owner)
    {
        if (SlotMap() is not { } slots || _connection is not { } connection)
        {
            return;
        }

        slots.Learn(slot, owner);
        try
        {
            if (connection.GetServer(owner).IsConnected)
            {
                return;
            }
        }
        catch (ArgumentException)
        {
        }

        // Real time, not the store's clock: this bounds what is sent to the servers.
        var now = Stopwatch.GetTimestamp();
        if (_nudged.TryGetValue(owner, out var last)
            ? Stopwatch.GetElapsedTime(last, now) < NudgeInterval || !_nudged.TryUpdate(owner, now, last)
            : !_nudged.TryAdd(owner, now))
        {
            return;
        }

        RedisCalls.Observe(connection.GetDatabase().KeyExistsAsync(key));
        RedisCalls.Observe(connection.ConfigureAsync());
    }

    /// <summary>
    /// A read of <paramref name="key"/> that is not followed (<c>MGET</c>, <c>EXISTS</c>) was redirected: a <c>MOVED</c>
    /// that names its slot and server is learned as a followed one is (<see cref="Learn"/>), so that the next read goes
    /// there, and the client connects to that server if it has not.
    /// </summary>
    public void Redirected(string key, RedirectedReadException redirection)
    {
        if (!redirection.Asking && redirection.Slot >= 0 && redirection.Target is { } target)
        {
            Learn(key, redirection.Slot, target);
        }
    }

    /// <summary>
    /// The node a cluster read redirected to <paramref name="target"/> may be followed to, or null (the read is then a
    /// miss): after a <c>MOVED</c>, the node the slot map routes <paramref name="key"/> to once it learned the move (a
    /// primary that took over slots is held for verification before then); after an <c>ASK</c>, the target only if it
    /// owns slots already, since a primary that imports its first slot was never verified, and only if the slot's
    /// primary held no clear since the slot's keys may have begun to move (one that had moved was not cleared).
    /// </summary>
    public RedisNode? FollowedTo(string key, int slot, EndPoint target, bool asking)
    {
        if (asking)
        {
            // Not from a primary that held a clear while the slot's keys may have been moving: keys it had already
            // handed over were not cleared where they went.
            return SlotMap() is { } slots && slots.Owns(target) && !NodeOf(key).HeldClearSince(slots.ChangedAt(slot)) ? NodeAt(target) : null;
        }

        Learn(key, slot, target);
        var node = NodeOf(key);
        return Equals(node.EndPoint, target) ? node : null;
    }

    /// <summary>The node of a cluster primary, made on first use (and told to <c>nodeAdded</c> once it is the one kept).</summary>
    public RedisNode NodeAt(EndPoint endPoint)
    {
        if (_nodes.TryGetValue(endPoint, out var node))
        {
            return node;
        }

        var made = _createNode($"{_shard}/{endPoint}", endPoint);
        var kept = _nodes.GetOrAdd(endPoint, made);
        if (kept == made)
        {
            _nodeAdded(made);
        }

        return kept;
    }

    /// <summary>Gets the nodes that serve keys now: each primary that owns slots (connected or not), or the one server.</summary>
    public IReadOnlyCollection<RedisNode> Owners() =>
        SlotMap() is { } slots && slots.Owners() is { Count: > 0 } owners ? [.. owners.Select(NodeAt)] : [Server];

    /// <summary>Gets the cluster's primaries as the client knows them now; on one server, that server.</summary>
    public IServer[] Primaries(IConnectionMultiplexer connection) => Kind == TopologyKind.Cluster
        ? connection.GetServers().Where(static s => s.IsConnected && !s.IsReplica).ToArray()
        : [connection.GetServers().First(static s => s is { IsConnected: true, IsReplica: false })];

    /// <summary>
    /// The server behind <paramref name="node"/>, for commands that go to one server (PING, INFO, SCAN); a stand-in
    /// node's is the first connected primary, and none connected is a failure of the call (what it would run is kept),
    /// the same <see cref="InvalidOperationException"/> as on one server.
    /// </summary>
    public IServer ServerOf(IConnectionMultiplexer connection, RedisNode node) =>
        node.EndPoint is { } endPoint ? ServerAt(connection, endPoint)
        : Primaries(connection) is [var first, ..] ? first
        : throw new InvalidOperationException("No primary of the cluster is connected.");

    /// <summary>
    /// The client's server at <paramref name="endPoint"/>. A primary this store learned of from a redirection may not be
    /// known to the client until it reconfigures, and the client then refuses it with an <see cref="ArgumentException"/>:
    /// that is a failure of the call (what it would run is kept), not the caller's error.
    /// </summary>
    private static IServer ServerAt(IConnectionMultiplexer connection, EndPoint endPoint)
    {
        try
        {
            return connection.GetServer(endPoint);
        }
        catch (ArgumentException ex)
        {
            throw new InvalidOperationException($"The client does not know the server at {endPoint} yet.", ex);
        }
    }

    /// <summary>The database, connecting first (waiting no longer than the operation timeout for a connect under way).</summary>
    public async ValueTask<IDatabase> GetDatabaseAsync(CancellationToken cancellationToken)
    {
        if (_database is { } database)
        {
            return database;
        }

        Task<IConnectionMultiplexer> connecting;
        lock (_connectLock)
        {
            connecting = _connecting ??= ConnectAsync();
        }

        var connection = await connecting.WaitAsync(_timeout, _time, cancellationToken).ConfigureAwait(false);
        return _database = connection.GetDatabase();
    }

    public async ValueTask DisposeAsync()
    {
        IConnectionMultiplexer? connection;
        lock (_connectLock)
        {
            // A connect still under way closes what it made itself (ConnectAsync).
            _disposed = true;
            connection = _connection;
            _slots?.Dispose();
        }

        if (connection is null)
        {
            return;
        }

        connection.ConnectionFailed -= OnConnectionFailed;
        if (_shared is null)
        {
            // The application's own multiplexer is the application's to close.
            await connection.CloseAsync(allowCommandsToComplete: false).ConfigureAwait(false);
            connection.Dispose();
        }
    }

    /// <summary>Runs <paramref name="work"/> while the cluster's slot map is not changing (<see cref="ClusterSlotMap.WhileSettled"/>); at once elsewhere.</summary>
    public void WhileSlotsSettled(Action work)
    {
        if (SlotMap() is { } slots)
        {
            slots.WhileSettled(work);
        }
        else
        {
            work();
        }
    }

    /// <summary>The slot map of a cluster, or null for a single server and while the topology is not known yet.</summary>
    private ClusterSlotMap? SlotMap()
    {
        if (Volatile.Read(ref _slots) is { } slots)
        {
            return slots;
        }

        if (Volatile.Read(ref _kind) == (int)TopologyKind.Server || _connection is not { } connection || Kind != TopologyKind.Cluster)
        {
            return null;
        }

        lock (_connectLock)
        {
            // One map, made once: a map follows the multiplexer until it is disposed, and none is made after the store was.
            if (_slots is null && !_disposed)
            {
                Volatile.Write(ref _slots, new ClusterSlotMap(connection, _time, (endPoints, first) => _slotsGained([.. endPoints.Select(NodeAt)], first), ReportHandovers, _slotsMoved, exception => LogSlotMapCheckFailed(_logger, _shard, exception)));
            }

            return _slots;
        }
    }

    private void ReportHandovers(IReadOnlyDictionary<(EndPoint From, EndPoint To), long> pairs, Func<int, EndPoint?> ownerAfter)
    {
        foreach (var ((from, to), changedAt) in pairs)
        {
            // A primary this store never routed to kept nothing.
            if (_nodes.TryGetValue(from, out var node))
            {
                _slotsHandedOver(node, NodeAt(to), changedAt, key => Equals(ownerAfter(HashSlot.Of(key)), to));
            }
        }
    }

    private async Task<IConnectionMultiplexer> ConnectAsync()
    {
        try
        {
            var connection = _shared ?? await ConnectionMultiplexer.ConnectAsync(_configuration).ConfigureAwait(false);
            lock (_connectLock)
            {
                if (_disposed)
                {
                    // The store was disposed while this connected: nothing may use, or leave open, what it made.
                    if (_shared is null)
                    {
                        connection.Dispose();
                    }

                    throw new ObjectDisposedException(nameof(RedisStore));
                }

                connection.ConnectionFailed += OnConnectionFailed;
                _connection = connection;
            }

            if (Kind == TopologyKind.Server && _configuration.EndPoints.Count > 1)
            {
                LogSeveralServers(_logger, _shard, _configuration.EndPoints.Count, _configuration.EndPoints[0].ToString() ?? "");
            }

            _connected(this);
            return connection;
        }
        catch (Exception ex)
        {
            lock (_connectLock)
            {
                _connecting = null;
            }

            LogConnectFailed(_logger, _shard, ex);
            throw;
        }
    }

    /// <summary>
    /// A connection to a server was lost (not a connect that failed): the server may come back from its disk, or a
    /// replica may take its place, without removals it acknowledged, so its node verifies it before it serves again.
    /// </summary>
    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e)
    {
        if (e.FailureType is ConnectionFailureType.UnableToConnect or ConnectionFailureType.UnableToResolvePhysicalConnection)
        {
            return;
        }

        if (Kind != TopologyKind.Cluster)
        {
            Server.Suspect();
        }
        else if (e.EndPoint is { } endPoint && _nodes.TryGetValue(endPoint, out var node))
        {
            node.Suspect();
        }
    }
}
