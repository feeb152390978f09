using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using RcAspNet.Diagnostics;
using RcAspNet.Stores.Near;
using StackExchange.Redis;

namespace RcAspNet.Stores.Redis;

/// <summary>
/// One Redis server or one Redis Cluster, as commands: asynchronous ones through the multiplexer of its
/// <see cref="RedisTopology"/>, synchronous ones through a <see cref="BlockingRedisClient"/> on the caller's thread
/// (<c>RedisStore.Sync.cs</c>). Each command goes to the node that serves its key (on a cluster, the primary that owns
/// its slot) through <see cref="RedisCalls"/>, which bounds it, guards it with the node's circuit and handles its
/// failure (the sliding renewal, sent without waiting, is the one command that only checks the circuit); a removal that
/// does not reach its node is kept there and delivered by <see cref="RemovalDelivery"/>.
/// Multi-key commands are split by node, so one node's failure fails only its own keys, and by hash slot on a cluster.
/// With a <see cref="NearCopies"/>, single-key reads are answered from a copy while the node's invalidation link vouches
/// for it (<c>RedisStore.Near.cs</c>), and a write through this store evicts the copy before and after it is sent.
/// </summary>
internal sealed partial class RedisStore : IRcStore, IRedisBackedStore
{
    private readonly string _kind;
    private readonly string _shard;
    private readonly RcOptions _options;
    private readonly TimeProvider _time;
    private readonly RcMetrics _metrics;
    private readonly ILogger _logger;
    private readonly string[] _prefixes;
    private readonly RedisTopology _topology;
    private readonly RedisCalls _calls;
    private readonly RemovalDelivery _delivery;
    private readonly RecentRemovals _recent;
    private readonly RecentRemovals _registered;
    private readonly BlockingRedisClient _blocking;
    private readonly RespSettings _respSettings;
    private readonly NearCopies? _near;
    private readonly GetTables _tables;
    private readonly SharedGets _gets;
    private readonly StrongBox<int> _pendingTags = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly IDisposable _gauge;
    private readonly Action<(string Key, byte[] Value, TimeSpan TimeToLive)> _evictWritten;

    /// <param name="configuration">The client configuration of the server or cluster.</param>
    /// <param name="kind">The store kind, a telemetry tag (redis, or sharded for one shard of a sharded store).</param>
    /// <param name="shard">The shard name, a telemetry tag.</param>
    /// <param name="options">The operation timeout, circuit and removal settings and failure mode.</param>
    /// <param name="time">The clock of TTLs, circuit recoveries and recent removals.</param>
    /// <param name="metrics">Where operations are counted.</param>
    /// <param name="logger">Where failures are logged, without keys.</param>
    /// <param name="near">The near cache, shared by every store of the application; null when it is off.</param>
    /// <param name="trackedPrefixes">The namespaces this store holds: whose changes the near cache follows, and which a clear of a node deletes.</param>
    /// <param name="shared">The application's own multiplexer, used instead of one of the store's own; null to connect.</param>
    /// <param name="gets">The tables of GETs in flight of every Redis store of the application; null for a store alone.</param>
    public RedisStore(ConfigurationOptions configuration, string kind, string shard, RcOptions options, TimeProvider time, RcMetrics metrics, ILogger logger, NearCopies? near = null, IReadOnlyCollection<string>? trackedPrefixes = null, IConnectionMultiplexer? shared = null, GetTables? gets = null)
    {
        _tables = gets ?? new GetTables();
        _gets = _tables.Add();
        _kind = kind;
        _shard = shard;
        _options = options;
        _time = time;
        _metrics = metrics;
        _logger = logger;
        _near = near;
        _prefixes = [.. (trackedPrefixes ?? [""]).Distinct(StringComparer.Ordinal)];
        _recent = new RecentRemovals(options.RemovalReplayWindow, options.PendingRemovalLimit, time, EarliestSuspicion);
        _registered = new RecentRemovals(options.RemovalReplayWindow, RegistrationLimit(options.PendingRemovalLimit), time, EarliestSuspicion);
        _topology = new RedisTopology(configuration, shard, options.OperationTimeout, time, logger, CreateNode, OnSlotsGained, OnSlotsHandedOver, OnSlotsMoved, OnConnected, Link, shared);
        var settings = _topology.Configuration;
        _respSettings = RespSettings.From(settings, options.SslCaFile);
        _blocking = new BlockingRedisClient(settings.EndPoints, _respSettings);
        _calls = new RedisCalls(_topology, _blocking, kind, options, metrics, logger) { Overflowed = OnOverflowed };
        _evictWritten = write => Evict(write.Key);
        _delivery = new RemovalDelivery(_topology, _calls, _recent, _registered, _prefixes, () => Owner ?? this, Evict, kind, metrics, logger);
        _gauge = metrics.ObservePendingRemovals(() => _topology.Nodes.Select(n => (kind, n.Name, n.Removals.Size)));
    }

    public string Kind => _kind;

    /// <summary>Gets whether reads may return the near cache's own arrays.</summary>
    public bool ReturnsStoredArrays => _near is not null;

    /// <summary>Gets or sets the store that routes a tag's members to their servers: a sharded store this store is a shard of; else this store.</summary>
    public IRcStore? Owner { get; set; }

    /// <summary>Gets the state of the server's circuit (of a cluster before its topology is known).</summary>
    internal CircuitState CircuitState => _topology.Server.Circuit.State;

    /// <summary>Gets the tables of GETs in flight this store closes a key's GETs in (for tests).</summary>
    internal GetTables Tables => _tables;

    /// <summary>Gets how many removals are kept for the servers of this store (for tests).</summary>
    internal int PendingRemovals => _topology.Nodes.Sum(static n => n.Removals.Size);

    /// <summary>Returns the server a namespaced key is routed to now, null for the configured one (for tests).</summary>
    internal System.Net.EndPoint? RoutedTo(string key) => _topology.NodeOf(key).EndPoint;

    public bool HasPendingTags => Volatile.Read(ref _pendingTags.Value) > 0;

    public bool IsTagPending(TagKeys tag)
    {
        if (!HasPendingTags)
        {
            return false;
        }

        // Every node's log, not only the tag's server's: while slots move, a kept invalidation may still sit with the old owner.
        foreach (var node in _topology.Nodes)
        {
            lock (node.Sync)
            {
                if (node.Removals.HasTag(tag.Routing))
                {
                    return true;
                }
            }
        }

        return false;
    }

    public ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken)
    {
        var node = _topology.NodeOf(key);
        if (_near is null || !node.Circuit.TryEnter() || NearLinkOf(node) is not { } link)
        {
            return ReadAsync(node, key, cancellationToken);
        }

        if (cancellationToken.IsCancellationRequested)
        {
            // As a read from Redis is: a near copy is not an answer to a caller that gave up.
            return ValueTask.FromCanceled<byte[]?>(cancellationToken);
        }

        if (_near.TryGet(key, link, out var copy))
        {
            _metrics.NearHit(_kind, node.Name);
            return new(copy);
        }

        return _near.BeginRead(key, link) is { } read ? ReadIntoNearAsync(node, read, cancellationToken) : ReadAsync(node, key, cancellationToken);
    }

    public ValueTask<byte[]?[]> GetManyAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        try
        {
            return keys.Count == 0 ? new([])
                : !IsCluster ? ReadManyAsync(_topology.NodeOf(keys[0]), keys as string[] ?? [.. keys], cancellationToken)
                : GetManyPerNodeAsync(keys, cancellationToken);
        }
        catch (Exception ex)
        {
            // As from an async method: through the task (a sharded store has started its other shards' reads).
            return ValueTask.FromException<byte[]?[]>(ex);
        }
    }

    private async ValueTask<byte[]?[]> GetManyPerNodeAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        var result = new byte[]?[keys.Count];
        await PerNodeAsync(keys, static k => k, async (node, indexes) =>
        {
            var values = await ReadManyAsync(node, [.. indexes.Select(i => keys[i])], cancellationToken).ConfigureAwait(false);
            for (var j = 0; j < indexes.Length; j++)
            {
                result[indexes[j]] = values[j];
            }
        }).ConfigureAwait(false);
        return result;
    }

    /// <summary>The values of keys of one node (one server's, or one cluster primary's): one MGET (on a cluster, one per hash slot).</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<byte[]?[]> ReadManyAsync(RedisNode node, string[] keys, CancellationToken cancellationToken)
    {
        var values = await _calls.RunAsync(
            node,
            "get_many",
            (Cluster: IsCluster, Node: node, Keys: keys, Topology: _topology),
            static (db, s) => RedisCommands.GetManyAsync(db, s.Node, s.Keys, s.Cluster, s.Topology),
            null,
            cancellationToken,
            wrongTypeIsMiss: true).ConfigureAwait(false);
        var result = new byte[]?[keys.Length];
        for (var j = 0; values is not null && j < keys.Length; j++)
        {
            var value = (byte[]?)values[j];
            result[j] = value;
            _near?.Observe(keys[j], value);
        }

        return result;
    }

    /// <summary>
    /// Writes an entry. A write that replaces a value and does not reach its server leaves the value it replaced there,
    /// so its key's removal is kept; a write that fills a miss replaced nothing, so one that does not reach its server
    /// leaves nothing to remove.
    /// </summary>
    /// <remarks>
    /// The copies of the key held here (near copies, GETs to join) are forgotten before the write and again once it has
    /// ended (<see cref="RedisCalls.RunAsync"/>'s last step): a read that began meanwhile may have read the value it
    /// replaced. Not an async method of its own: every write would pay one more state machine.
    /// </remarks>
    public ValueTask<bool> SetAsync(string key, byte[] value, TimeSpan timeToLive, bool replaces, CancellationToken cancellationToken)
    {
        Evict(key);
        try
        {
            if (replaces)
            {
                _recent.Add(key);
            }

            return _calls.RunAsync(_topology.NodeOf(key), "set", (Key: key, Value: value, TimeToLive: timeToLive), static (db, s) => db.StringSetAsync(s.Key, s.Value, RedisCommands.Ttl(s.TimeToLive)), false, cancellationToken, keepOnFailure: replaces ? KeyOf : null, settled: _evictWritten);
        }
        catch (Exception ex)
        {
            // Before the call began (no server for the key): nothing was sent, and the failure goes through the task.
            Evict(key);
            return ValueTask.FromException<bool>(ex);
        }
    }

    public async ValueTask<string?> LeaseAsync(string key, CancellationToken cancellationToken)
    {
        if (FillLease.KeyOf(key) is not { } leaseKey)
        {
            return null;
        }

        return await _calls.RunAsync(_topology.NodeOf(key), "lease", leaseKey, static (db, k) => RedisCommands.LeaseAsync(db, k), null, cancellationToken).ConfigureAwait(false) ?? FillLease.Unavailable;
    }

    public async ValueTask<string?[]?> LeaseManyAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        var tokens = new string?[keys.Count];
        await PerNodeAsync(keys, static k => k, async (node, indexes) =>
        {
            var part = await _calls.RunAsync(node, "lease", indexes.Select(i => keys[i]).ToArray(), static async (db, part) => (string?[]?)await RedisCommands.LeaseManyAsync(db, part).ConfigureAwait(false), null, cancellationToken).ConfigureAwait(false);
            for (var j = 0; j < indexes.Length; j++)
            {
                // A node that failed (degraded): no lease, so nothing is written there.
                tokens[indexes[j]] = part is null ? (FillLease.KeyOf(keys[indexes[j]]) is null ? null : FillLease.Unavailable) : part[j];
            }
        }).ConfigureAwait(false);
        return tokens;
    }

    public async ValueTask<bool> FillAsync(string key, byte[] value, TimeSpan timeToLive, FillLease lease, CancellationToken cancellationToken)
    {
        Evict(key);
        try
        {
            return await _calls.RunAsync(_topology.NodeOf(key), "set", (key, value, timeToLive, lease), static (db, s) => RedisCommands.FillAsync(db, s.key, s.value, s.timeToLive, s.lease), false, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Evict(key);
        }
    }

    public async ValueTask SetManyAsync(IReadOnlyList<StoreEntry> entries, bool replaces, CancellationToken cancellationToken)
    {
        EvictAll(entries, static e => e.Key);
        try
        {
            if (replaces && entries.Count > 0)
            {
                _recent.Add(Removal.OfKeys([.. entries.Select(static e => e.Key)]));
            }

            await PerNodeAsync(entries, static e => e.Key, async (node, indexes) =>
                await _calls.RunAsync(node, "set_many", indexes.Select(i => entries[i]).ToArray(), static (db, part) => RedisCommands.SetManyAsync(db, part), false, cancellationToken, keepOnFailure: replaces ? static part => Removal.OfKeys([.. part.Select(static e => e.Key)]) : null).ConfigureAwait(false)).ConfigureAwait(false);
        }
        finally
        {
            EvictAll(entries, static e => e.Key);
        }
    }

    public async ValueTask<bool> AddAsync(string key, byte[] value, TimeSpan timeToLive, CancellationToken cancellationToken)
    {
        Evict(key);
        try
        {
            return await _calls.RunAsync(_topology.NodeOf(key), "add", (key, value, timeToLive), static (db, s) => db.StringSetAsync(s.key, s.value, RedisCommands.Ttl(s.timeToLive), When.NotExists), false, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Evict(key);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<RcRemovalResult> DeleteAsync(string key, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return await WithoutCaller(DeleteAsync(key, CancellationToken.None), cancellationToken).ConfigureAwait(false);
        }

        Evict(key);
        try
        {
            var removal = Removal.OfKey(key);
            _recent.Add(removal);
            var (delivered, removed, kept) = await _calls.RemoveAsync(_topology.NodeOf(key), "delete", removal, key, static (db, key) => RedisCommands.DeleteWithLeasesAsync(db, [key]), cancellationToken).ConfigureAwait(false);
            return delivered ? new(removed, 0) : kept;
        }
        finally
        {
            Evict(key);
        }
    }

    public async ValueTask<RcRemovalResult> DeleteManyAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return await WithoutCaller(DeleteManyAsync(keys, CancellationToken.None), cancellationToken).ConfigureAwait(false);
        }

        EvictAll(keys, static k => k);
        try
        {
            long removed = 0;
            long pending = 0;
            await PerNodeAsync(keys, static k => k, async (node, indexes) =>
            {
                var part = indexes.Select(i => keys[i]).ToArray();
                var removal = Removal.OfKeys(part);
                _recent.Add(removal);
                var (delivered, count, kept) = await _calls.RemoveAsync(node, "delete_many", removal, (cluster: IsCluster, part), static (db, s) => RedisCommands.DeleteAsync(db, s.part, s.cluster), cancellationToken).ConfigureAwait(false);
                Interlocked.Add(ref removed, delivered ? count : 0);
                Interlocked.Add(ref pending, kept.Pending);
            }).ConfigureAwait(false);
            return new(removed, pending);
        }
        finally
        {
            EvictAll(keys, static k => k);
        }
    }

    public ValueTask<bool> ExistsAsync(string key, CancellationToken cancellationToken)
    {
        var node = _topology.NodeOf(key);
        return _calls.RunAsync(
            node,
            "exists",
            (Node: node, Key: key, Topology: _topology),
            static (db, s) => RedisCommands.ExistsAsync(db, s.Node, s.Key, s.Topology),
            false,
            cancellationToken,
            wrongTypeIsMiss: true);
    }

    public async ValueTask<bool> ExpireAsync(string key, TimeSpan timeToLive, CancellationToken cancellationToken)
    {
        Evict(key);
        try
        {
            return await _calls.RunAsync(_topology.NodeOf(key), "expire", (key, timeToLive), static (db, s) => db.KeyExpireAsync(s.key, RedisCommands.Ttl(s.timeToLive)), false, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Evict(key);
        }
    }

    public async ValueTask<bool> RenewAsync(string key, ReadOnlyMemory<byte> header, TimeSpan timeToLive, CancellationToken cancellationToken)
    {
        Evict(key);
        try
        {
            return await _calls.RunAsync(_topology.NodeOf(key), "expire", (key, header, timeToLive), static (db, s) => RedisCommands.RenewAsync(db, s.key, s.header, s.timeToLive), false, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Evict(key);
        }
    }

    public void RenewInBackground(string key, ReadOnlyMemory<byte> header, TimeSpan timeToLive)
    {
        var database = _topology.Database;
        if (database is null)
        {
            // Nothing asynchronous has connected yet (an application that only reads synchronously): connect now, for
            // the next renewal. This one is skipped; the entry still has the lifetime of its last write or renewal.
            _ = _topology.GetDatabaseAsync(CancellationToken.None).AsTask().ContinueWith(static t => _ = t.Exception, TaskScheduler.Default);
            return;
        }

        var node = _topology.NodeOf(key);
        if (!node.Circuit.TryEnter())
        {
            return;
        }

        try
        {
            database.ScriptEvaluate(RedisCommands.RenewScript, [key], [header, RedisCommands.Milliseconds(timeToLive)], CommandFlags.FireAndForget);
        }
        catch (Exception ex) when (ex is RedisException or InvalidOperationException or ObjectDisposedException)
        {
            _calls.Degrade(node, "expire", false, FailureKind.Connection, ex);
        }
    }

    public async ValueTask<long> IncrementAsync(string key, long delta, TimeSpan timeToLive, CancellationToken cancellationToken)
    {
        Evict(key);
        try
        {
            return await _calls.RunAsync(_topology.NodeOf(key), "increment", (key, delta, timeToLive), static (db, s) => RedisCommands.IncrementAsync(db, s.key, s.delta, s.timeToLive), 0L, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Evict(key);
        }
    }

    public async ValueTask<RcRemovalResult> ClearAsync(string prefix, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return await WithoutCaller(ClearAsync(prefix, CancellationToken.None), cancellationToken).ConfigureAwait(false);
        }

        var removal = Removal.OfClear([prefix]);
        _recent.Add(removal);
        _tables.ForgetAll();
        try
        {
            try
            {
                await _topology.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Not connected yet, or the caller stopped waiting: the clear goes to every server the store knows, which
                // keeps it if it cannot finish.
            }

            // Every primary that owns slots (a disconnected one included: its clear is kept), or the one server.
            Task<RcRemovalResult[]> ClearOn(IEnumerable<RedisNode> nodes) => Task.WhenAll(nodes.Select(node => ClearMigratingAsync(node, prefix, removal, cancellationToken)));
            RcRemovalResult[] results;
            try
            {
                results = await ClearOn(_topology.Owners()).ConfigureAwait(false);
            }
            catch (ClusterFoundException)
            {
                // It went to the stand-in node alone, and the store has just found a cluster: its primaries own the keys.
                // (Should the cluster not have told its slots yet, the stand-in keeps it, and moves it to them.)
                var owners = _topology.Owners();
                results = owners.Any(static n => n.EndPoint is null)
                    ? [_calls.Kept(_topology.Server, "clear", removal, FailureKind.Skipped, null)]
                    : await ClearOn(owners).ConfigureAwait(false);
            }

            return new(results.Sum(static r => r.Removed), results.Sum(static r => r.Pending));
        }
        finally
        {
            _tables.ForgetAll();
        }
    }

    public async ValueTask<string?[]> GetTagVersionsAsync(IReadOnlyList<TagKeys> tags, CancellationToken cancellationToken)
    {
        var versions = new string?[tags.Count];
        await PerNodeAsync(tags, static t => t.Routing, async (node, indexes) =>
        {
            var read = await _calls.RunAsync(
                node,
                "tag_versions",
                indexes.Select(i => tags[i]).ToArray(),
                static async (db, part) => await Task.WhenAll(part.Select(t => db.StringGetAsync(t.Version))).ConfigureAwait(false),
                null,
                cancellationToken,
                wrongTypeIsMiss: true).ConfigureAwait(false);
            for (var j = 0; read is not null && j < indexes.Length; j++)
            {
                versions[indexes[j]] = read[j];
            }
        }).ConfigureAwait(false);
        return versions;
    }

    public async ValueTask<bool> TagAsync(TagKeys tag, IReadOnlyList<TagMember> members, string? expectedVersion, CancellationToken cancellationToken)
    {
        var unchanged = await _calls.RunAsync(_topology.NodeOf(tag.Routing), "tag", (tag, members, expectedVersion, now: _time.GetUtcNow().ToUnixTimeMilliseconds()), static (db, s) => RedisCommands.TagAsync(db, s.tag, s.members, s.expectedVersion, s.now), false, cancellationToken).ConfigureAwait(false);
        if (unchanged)
        {
            // The server may lose the registration it acknowledged (a restart from its disk): remembered, so that the
            // entries are then deleted, as an invalidation of the tag would no longer find them. (When this returns
            // false, the caller deletes them at once.)
            _registered.Add(Removal.OfMembers(tag, [.. members.Select(static m => m.Key)]));
        }

        return unchanged;
    }

    public async ValueTask<RcRemovalResult> InvalidateTagAsync(TagKeys tag, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return await WithoutCaller(InvalidateTagAsync(tag, CancellationToken.None), cancellationToken).ConfigureAwait(false);
        }

        var removal = Removal.OfTag(tag);
        _recent.Add(removal);
        return await InvalidateAsync(removal, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Changes the tag's version and moves its members aside, then deletes them (<see cref="DrainAsync"/>); what fails is kept.</summary>
    private async ValueTask<RcRemovalResult> InvalidateAsync(Removal removal, CancellationToken cancellationToken)
    {
        var node = _topology.NodeOf(removal.Tag.Routing);
        var (bumped, _, kept) = await _calls.RemoveAsync(node, "invalidate_tag", removal, removal, static (db, r) => RedisCommands.BumpTagAsync(db, r.Tag, r.Drain!, TagKeys.VersionLifetime), cancellationToken).ConfigureAwait(false);
        if (!bumped)
        {
            return kept;
        }

        // The version changed: no entry written from now on is stale.
        return await DrainAsync(node, removal.Bumped(), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Deletes the members an invalidation moved to its drain set (<paramref name="rest"/>), a page at a time on their
    /// own servers, then takes them out of it, so that neither server nor client holds them all at once and a page
    /// sent again is deleted again. Whatever is not done when a step fails, throws or is cancelled is kept.
    /// </summary>
    private async ValueTask<RcRemovalResult> DrainAsync(RedisNode node, Removal rest, CancellationToken cancellationToken)
    {
        long removed = 0;
        long pending = 0;
        try
        {
            while (true)
            {
                var (read, page, left) = await _calls.RemoveAsync(node, "invalidate_tag", rest, rest.Drain!, static (db, drain) => RedisCommands.MembersAsync(db, drain), cancellationToken).ConfigureAwait(false);
                if (!read)
                {
                    return new(removed, pending + left.Pending);
                }

                if (page.Length == 0)
                {
                    return new(removed, pending);
                }

                var result = await (Owner ?? this).DeleteManyAsync(page, cancellationToken).ConfigureAwait(false);
                removed += result.Removed;
                pending += result.Pending;
                var (forgot, _, unforgotten) = await _calls.RemoveAsync(node, "invalidate_tag", rest, (rest.Drain!, page), static (db, s) => RedisCommands.ForgetMembersAsync(db, s.Item1, s.page), cancellationToken).ConfigureAwait(false);
                if (!forgot)
                {
                    return new(removed, pending + unforgotten.Pending);
                }
            }
        }
        catch (Exception ex) when (ex is RcCacheException or OperationCanceledException)
        {
            _calls.Keep(node, rest);
            throw;
        }
    }

    public int RoundTrips(IReadOnlyList<string> keys) =>
        keys.Count == 0 ? 0 : !IsCluster ? 1 : keys.Select(static k => HashSlot.Of(k)).Distinct().Count();

    public async ValueTask<IReadOnlyList<ShardStatus>> CheckHealthAsync(CancellationToken cancellationToken)
    {
        try
        {
            var database = await _topology.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
            var connection = database.Multiplexer;
            if (_topology.Kind != TopologyKind.Cluster)
            {
                var latency = await database.PingAsync().WaitAsync(_options.OperationTimeout, _time, cancellationToken).ConfigureAwait(false);
                return [Status(_topology.Server, _shard, latency, null)];
            }

            var statuses = new List<ShardStatus>();
            foreach (var server in connection.GetServers())
            {
                var endPoint = server.EndPoint;
                var name = $"{_shard}/{endPoint}";
                var node = server.IsReplica ? null : _topology.NodeAt(endPoint);
                try
                {
                    var latency = await server.PingAsync().WaitAsync(_options.OperationTimeout, _time, cancellationToken).ConfigureAwait(false);
                    statuses.Add(Status(node, name, latency, null));
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    statuses.Add(Status(node, name, null, Describe(ex, node)));
                }
            }

            return statuses;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return [Status(_topology.Server, _shard, null, Describe(ex, _topology.Server))];
        }
    }

    public async ValueTask<IReadOnlyDictionary<string, IConnectionMultiplexer>> GetConnectionsAsync(CancellationToken cancellationToken)
    {
        var database = await _topology.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        return new Dictionary<string, IConnectionMultiplexer> { [_shard] = database.Multiplexer };
    }

    public void Dispose()
    {
        Stop();
        _topology.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    public async ValueTask DisposeAsync()
    {
        Stop();
        await _topology.DisposeAsync().ConfigureAwait(false);
    }

    internal bool IsCluster => _topology.Kind == TopologyKind.Cluster;

    /// <summary>Gets the node that serves every key until a cluster's slot map is known (for tests).</summary>
    internal RedisNode StandIn => _topology.Server;

    /// <summary>Gets how this store's commands reach their servers (for tests).</summary>
    internal RedisCalls Calls => _calls;

    /// <summary>
    /// Clears one node (<see cref="ClearNodeAsync"/>). On a cluster, the keys of a slot migrating while it runs may move
    /// past the scans, so the primary such a slot goes to is cleared too (<see cref="RemovalDelivery.HandOver"/>): the
    /// clear is held for the node while it runs, for a handover learned of within <c>Rc:RemovalReplayWindow</c> after it
    /// (a slot handed over while it ran may be learned of late), and after that too when it ends while a slot migrates
    /// or a primary without slots may be importing one (<see cref="RedisNode.ClearEnded"/>).
    /// </summary>
    private async Task<RcRemovalResult> ClearMigratingAsync(RedisNode node, string prefix, Removal removal, CancellationToken cancellationToken)
    {
        node.ClearStarted();
        var migrating = true;
        try
        {
            var result = await ClearNodeAsync(node, prefix, removal, cancellationToken).ConfigureAwait(false);
            migrating = IsCluster && await MayBeMigratingAsync().ConfigureAwait(false);
            return result;
        }
        catch (ClusterFoundException)
        {
            // The stand-in cleared nothing: ClearAsync clears the cluster's primaries instead.
            migrating = false;
            throw;
        }
        finally
        {
            node.ClearEnded(migrating);
        }
    }

    /// <summary>
    /// Whether a slot of the cluster may be migrating: a primary says so of itself in <c>CLUSTER NODES</c>, asked on
    /// the library's own connections (the multiplexer refuses <c>CLUSTER</c> outside admin mode), or a primary owns no
    /// slots (it may be importing its first); true when that cannot be read.
    /// </summary>
    private async Task<bool> MayBeMigratingAsync()
    {
        try
        {
            var connection = (await _topology.GetDatabaseAsync(CancellationToken.None).ConfigureAwait(false)).Multiplexer;
            var deadline = RespConnection.Deadline(_options.OperationTimeout);
            foreach (var endPoint in connection.GetEndPoints())
            {
                var server = connection.GetServer(endPoint);
                if (!server.IsConnected || server.IsReplica)
                {
                    continue;
                }

                if (server.ClusterConfiguration is { } configuration && configuration.Nodes.Any(static n => !n.IsReplica && n.IsConnected && n.Slots.Count == 0))
                {
                    return true;
                }

                if (_blocking.Migrating(endPoint, deadline))
                {
                    return true;
                }
            }

            return false;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return true;
        }
    }

    /// <summary>
    /// Deletes the keys under <paramref name="prefix"/> on one node, a SCAN page at a time, after the fill leases of keys
    /// under it (<see cref="RedisCommands.ClearPatterns"/>); what it cannot finish (the server fails, the call is
    /// cancelled) is kept as a clear of the node.
    /// </summary>
    private async Task<RcRemovalResult> ClearNodeAsync(RedisNode node, string prefix, Removal removal, CancellationToken cancellationToken)
    {
        IAsyncEnumerator<RedisKey>? scan = null;
        long removed = 0;
        long pending = 0;
        Exception? failure = null;

        // A tag that failed with FailureMode=Throw was kept where it failed; the clear goes on to its end, then throws.
        RcRemovalResult Ended(RcRemovalResult result) => failure is null ? result : throw failure;

        var patterns = RedisCommands.ClearPatterns(prefix);
        var pass = 0;
        try
        {
            while (true)
            {
                var (scanned, page, kept) = await _calls.RemoveAsync(node, "clear", removal, (Store: this, Pattern: patterns[pass]), async (db, s) =>
                {
                    if (scan is null && node.EndPoint is null && s.Store.IsCluster)
                    {
                        // The clear began before the store knew it reaches a cluster: the stand-in node would scan one
                        // primary. ClearAsync runs it on every primary that owns slots instead.
                        throw new ClusterFoundException();
                    }

                    scan ??= s.Store._topology.ServerOf(db.Multiplexer, node).KeysAsync(db.Database, s.Pattern, RedisCommands.PageSize).GetAsyncEnumerator(CancellationToken.None);
                    return await RedisCommands.NextPageAsync(scan).ConfigureAwait(false);
                }, cancellationToken).ConfigureAwait(false);
                if (!scanned)
                {
                    return Ended(new(removed, pending + kept.Pending));
                }

                if (page.Length == 0)
                {
                    await scan!.DisposeAsync().ConfigureAwait(false);
                    scan = null;
                    if (++pass == patterns.Length)
                    {
                        return Ended(new(removed, pending));
                    }

                    continue;
                }

                var (keys, tags, tagFailure) = await ClearTagsAsync(node, page, cancellationToken).ConfigureAwait(false);
                removed += tags.Removed;
                pending += tags.Pending;
                failure ??= tagFailure;
                EvictAll(keys, static k => k);
                var (deleted, count, rest) = keys.Length == 0 ? (true, 0L, default)
                    : await _calls.RemoveAsync(node, "clear", removal, (cluster: IsCluster, keys), static (db, s) => RedisCommands.DeleteAsync(db, s.keys, s.cluster), cancellationToken).ConfigureAwait(false);

                // Their near copies go now, not when Redis's invalidations reach the link: the caller may read them at once.
                EvictAll(keys, static k => k);
                if (!deleted)
                {
                    return Ended(new(removed, pending + rest.Pending));
                }

                // A lease is not an entry.
                removed += pass == patterns.Length - 1 ? count : 0;
            }
        }
        catch (OperationCanceledException)
        {
            // A step that failed with FailureMode=Throw kept the clear itself; a tag's failure, thrown once the clear
            // has ended, was kept where it failed.
            _calls.Keep(node, removal);
            throw;
        }
        finally
        {
            if (scan is not null)
            {
                await scan.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// The keys of a clear's page that are to be deleted, once the tags among them are dealt with: a tag's members set
    /// is invalidated (its version changes and its members are deleted where they live) instead of deleted, and its
    /// version is left, changed; a set an invalidation moved members to is drained, and goes with its last member.
    /// Deleting a members set would lose what a write registered in it during the clear: an entry on another server, or
    /// one this server's scan had passed, that the tag's next invalidation must find. (A DEL of a moved set could delete
    /// one that a late invalidation of the tag moved members to again under the same name.) The tags go a few at a
    /// time; one that fails with <see cref="RcCacheException"/> is kept where it failed, and its exception is returned
    /// for the clear to throw once it has gone on to its end.
    /// </summary>
    private async ValueTask<(string[] Keys, RcRemovalResult Tags, Exception? Failure)> ClearTagsAsync(RedisNode node, string[] page, CancellationToken cancellationToken)
    {
        const int AtOnce = 16;
        if (!page.Any(static k => k.Contains(TagKeys.RootStart, StringComparison.Ordinal)))
        {
            return (page, default, null);
        }

        var (keys, sets) = TagKeys.OfClearPage(page);
        long removed = 0;
        long pending = 0;
        Exception? failure = null;
        foreach (var chunk in sets.Chunk(AtOnce))
        {
            // Not remembered as recent removals: the clear is, and delivered again it invalidates them again.
            foreach (var (result, error) in await Task.WhenAll(chunk.Select(async set =>
            {
                try
                {
                    return (await (set.Tag.Members == set.Key ? InvalidateAsync(Removal.OfTag(set.Tag), cancellationToken) : DrainAsync(node, Removal.OfDrain(set.Tag, set.Key), cancellationToken)).ConfigureAwait(false), (Exception?)null);
                }
                catch (RcCacheException ex)
                {
                    return (new RcRemovalResult(0, 1), ex);
                }
            })).ConfigureAwait(false))
            {
                removed += result.Removed;
                pending += result.Pending;
                failure ??= error;
            }
        }

        return ([.. keys], new(removed, pending), failure);
    }

    /// <summary>
    /// A removal whose caller gave up before it began goes on without the caller, to its end: what fails is kept, as for
    /// any removal, and a delete takes the keys' near copies and the reads in flight again when it lands. The caller
    /// gets its cancellation.
    /// </summary>
    private static ValueTask<RcRemovalResult> WithoutCaller(ValueTask<RcRemovalResult> removal, CancellationToken cancellationToken)
    {
        RedisCalls.Observe(removal.AsTask());
        return ValueTask.FromCanceled<RcRemovalResult>(cancellationToken);
    }

    /// <summary>Reads a key with one GET, or by joining the GET of it in flight (<see cref="RedisCalls.GetAsync"/>).</summary>
    private ValueTask<byte[]?> ReadAsync(RedisNode node, string key, CancellationToken cancellationToken) => _calls.GetAsync(node, _gets, key, cancellationToken);

    /// <summary>
    /// Runs a multi-key operation once per node that owns some of <paramref name="items"/>, the nodes in parallel, each
    /// with its own circuit: one node's failure fails only its own items. A single server is one node.
    /// </summary>
    private async ValueTask PerNodeAsync<T>(IReadOnlyList<T> items, Func<T, string> keyOf, Func<RedisNode, int[], Task> run)
    {
        if (items.Count == 0)
        {
            return;
        }

        if (!IsCluster)
        {
            await run(_topology.NodeOf(keyOf(items[0])), [.. Enumerable.Range(0, items.Count)]).ConfigureAwait(false);
            return;
        }

        var groups = new Dictionary<RedisNode, List<int>>();
        for (var i = 0; i < items.Count; i++)
        {
            var node = _topology.NodeOf(keyOf(items[i]));
            if (!groups.TryGetValue(node, out var group))
            {
                groups[node] = group = [];
            }

            group.Add(i);
        }

        await Task.WhenAll(groups.Select(g => run(g.Key, [.. g.Value]))).ConfigureAwait(false);
    }

    private RedisNode CreateNode(string name, System.Net.EndPoint? endPoint)
    {
        // A cluster primary is linked once it is the node kept for its endpoint (RedisTopology.NodeAt); one that appears
        // only when it takes over slots is suspected by OnSlotsGained before a call reaches it.
        return new RedisNode(name, endPoint, _options, _prefixes, _pendingTags, _time, node => _delivery.RecoverAsync(node), OnCircuitChanged, OnRecoveryFailed, _stopping.Token);
    }

    /// <summary>How many registrations of entries under tags are remembered: ten times the removals, as every tagged write makes them.</summary>
    private static int RegistrationLimit(int pendingRemovalLimit) => (int)Math.Min(int.MaxValue, pendingRemovalLimit * 10L);

    /// <summary>
    /// When the earliest server still unverified was first suspected (<see cref="long.MaxValue"/> for none): what it may
    /// have lost is remembered until it is verified. In a cluster, only a primary that still serves slots holds it: one
    /// whose replica took over, or that left, holds nothing back.
    /// </summary>
    private long EarliestSuspicion()
    {
        var earliest = SuspectedSince(_topology.Nodes);
        return earliest == long.MaxValue || _topology.Kind != TopologyKind.Cluster ? earliest : SuspectedSince(_topology.Owners());
    }

    private static long SuspectedSince(IEnumerable<RedisNode> nodes)
    {
        var earliest = long.MaxValue;
        foreach (var node in nodes)
        {
            earliest = Math.Min(earliest, node.SuspectedAt);
        }

        return earliest;
    }

    /// <summary>
    /// Cluster primaries take over slots: they are verified before they serve them, when recent removals or tag
    /// registrations could be missing on them, and what they may lack reaches back to when the earliest server still
    /// suspected was lost (the primary whose slots a replica took). The first slot map's primaries take over from the
    /// stand-in node that served every key until the cluster was known: they are held only when it keeps removals,
    /// which move to them. (Removals kept for the old owners then move to them.)
    /// </summary>
    private void OnSlotsGained(IReadOnlyCollection<RedisNode> nodes, bool first)
    {
        if (first ? !_topology.Nodes.Any(static n => n.Removals.Size > 0) : _recent.IsEmpty && _registered.IsEmpty)
        {
            return;
        }

        var since = SuspectedSince(_topology.Nodes);
        foreach (var node in nodes)
        {
            node.Suspect(replay: true, since);
        }
    }

    private void OnSlotsHandedOver(RedisNode from, RedisNode to, long changedAt, Func<string, bool> movesTo) => _delivery.HandOver(from, to, changedAt, movesTo);

    private void OnSlotsMoved() => _delivery.Reroute();

    /// <summary>Links to the configured server once connected (a cluster's primaries are linked when first routed to).</summary>
    private void OnConnected(RedisTopology topology)
    {
        if (topology.Kind != TopologyKind.Cluster)
        {
            Link(topology.Server);
        }
    }

    private void OnOverflowed(RedisNode node) => LogOverflowed(_logger, node.Name, _options.PendingRemovalLimit);

    private void OnCircuitChanged(RedisNode node, CircuitState state)
    {
        var name = state == CircuitState.Open ? "open" : "closed";
        _metrics.CircuitChanged(_kind, node.Name, name);
        LogCircuitChanged(_logger, node.Name, name);
    }

    private void OnRecoveryFailed(RedisNode node, Exception ex, TimeSpan wait) => LogRecoveryFailed(_logger, node.Name, ex.GetType().Name, wait.TotalMilliseconds);

    private void Stop()
    {
        _stopping.Cancel();
        _gauge.Dispose();
        DisposeLinks();
        _blocking.Dispose();
    }

    private static ShardStatus Status(RedisNode? node, string name, TimeSpan? latency, string? error) =>
        new(name, error is null, latency, error, node?.Circuit.TryEnter() ?? true, node?.Removals.Size ?? 0);

    /// <summary>The removal a replacing write of one key keeps when it does not reach its server.</summary>
    private static Removal KeyOf((string Key, byte[] Value, TimeSpan TimeToLive) write) => Removal.OfKey(write.Key);

    /// <summary>
    /// Why a health check's ping failed. A server that refuses this node's credentials never answers one, and the ping
    /// may fail with a timeout or a bare "no connection" while the client waits for a connection that never comes: the
    /// node's own link knows why (it was refused), as a call's classification does (<see cref="RedisCalls"/>).
    /// </summary>
    private static string Describe(Exception ex, RedisNode? node) => ex switch
    {
        _ when RedisCalls.Refusal(ex) is not null || node?.Link?.Refusal is not null => "authentication failed",
        TimeoutException => "timeout",
        RedisConnectionException => "connection failed",
        _ => ex.GetType().Name,
    };
}
