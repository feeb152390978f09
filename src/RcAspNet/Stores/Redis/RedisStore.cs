using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Extensions.Logging;
using RcAspNet.Diagnostics;
using RcAspNet.Stores.Near;
using StackExchange.Redis;

namespace RcAspNet.Stores.Redis;

/// <summary>
/// One Redis server or one Redis Cluster. Asynchronous operations go through one lazily connected
/// <see cref="ConnectionMultiplexer"/>; synchronous ones through a <see cref="BlockingRedisClient"/> on the caller's
/// thread, so that they never wait on the thread pool. Every operation is bounded by the operation timeout and guarded
/// by the circuit of the server it goes to: the server's own, or on a cluster the circuit of the primary that owns the
/// key's slot, so a frozen primary costs only its own keys. A failure is degraded to a miss or a dropped write, or
/// surfaced, as <see cref="RcFailureMode"/> says. Against a cluster, multi-key commands are split by hash slot, so they
/// never fail with CROSSSLOT, and by primary, so one primary's failure fails only its own keys. With a
/// <see cref="NearCopies"/>, single-key reads are answered from a copy while the server's invalidation link vouches for
/// it, and a write through this store evicts the copy before and after it is sent.
/// </summary>
internal sealed partial class RedisStore : IRcStore, IRedisBackedStore
{
    private const int ScanPageSize = 1000;

    private readonly ConfigurationOptions _configuration;
    private readonly string _kind;
    private readonly string _shard;
    private readonly RcOptions _options;
    private readonly TimeSpan _timeout;
    private readonly TimeProvider _time;
    private readonly RcMetrics _metrics;
    private readonly ILogger _logger;
    private readonly RedisNode _server;
    private readonly ConcurrentDictionary<EndPoint, RedisNode> _nodes = new();
    private readonly Deadlines _deadlines;
    private readonly BlockingRedisClient _blocking;
    private readonly RespSettings _respSettings;
    private readonly NearCopies? _near;
    private readonly IReadOnlyCollection<string> _trackedPrefixes;
    private readonly Lock _connectLock = new();
    private Task<ConnectionMultiplexer>? _connecting;
    private ConnectionMultiplexer? _connection;
    private IDatabase? _database;
    private ClusterSlotMap? _slots;
    private int _topology;

    /// <param name="configuration">The client configuration of the server or cluster.</param>
    /// <param name="kind">The store kind, a telemetry tag (redis, or sharded for one shard of a sharded store).</param>
    /// <param name="shard">The shard name, a telemetry tag.</param>
    /// <param name="options">The operation timeout, circuit settings and failure mode.</param>
    /// <param name="time">The clock of TTLs and circuit probes.</param>
    /// <param name="metrics">Where operations are counted.</param>
    /// <param name="logger">Where failures are logged, without keys.</param>
    /// <param name="near">The near cache, shared by every store of the application; null when it is off.</param>
    /// <param name="trackedPrefixes">The namespaces this store holds, whose changes the near cache's links ask Redis to report.</param>
    public RedisStore(ConfigurationOptions configuration, string kind, string shard, RcOptions options, TimeProvider time, RcMetrics metrics, ILogger logger, NearCopies? near = null, IReadOnlyCollection<string>? trackedPrefixes = null)
    {
        _configuration = configuration.Clone();
        _configuration.AbortOnConnectFail = false;
        _kind = kind;
        _shard = shard;
        _options = options;
        _timeout = options.OperationTimeout;
        _time = time;
        _metrics = metrics;
        _logger = logger;
        _server = Node(shard, ProbeServerAsync);
        _deadlines = new Deadlines(options.OperationTimeout);
        _respSettings = new RespSettings(_configuration.User, _configuration.Password, _configuration.DefaultDatabase ?? 0, _configuration.Ssl, _configuration.SslHost, _configuration.SslProtocols ?? System.Security.Authentication.SslProtocols.None);
        _blocking = new BlockingRedisClient(_configuration.EndPoints, _respSettings);
        _near = near;
        _trackedPrefixes = trackedPrefixes ?? [""];
    }

    public string Kind => _kind;

    /// <summary>Gets whether reads may return the near cache's own arrays.</summary>
    public bool ReturnsStoredArrays => _near is not null;

    /// <summary>Gets the state of the server's circuit (of a cluster before its topology is known).</summary>
    internal CircuitState CircuitState => _server.Circuit.State;

    public ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken)
    {
        var node = NodeOf(key);
        if (_near is null)
        {
            return ReadAsync(node, key, cancellationToken);
        }

        if (NearLinkOf(node) is not { } link)
        {
            return ReadAsync(node, key, cancellationToken);
        }

        if (_near.TryGet(key, link, out var copy))
        {
            _metrics.NearHit(_kind, node.Name);
            return new(copy);
        }

        return _near.BeginRead(key, link) is { } read ? ReadIntoNearAsync(node, read, cancellationToken) : ReadAsync(node, key, cancellationToken);
    }

    public byte[]? Get(string key)
    {
        var node = NodeOf(key);
        if (_near is null || NearLinkOf(node) is not { } link)
        {
            return ExecuteSync(node, "get", key, static (client, key, deadline) => client.Get(key, deadline), null, read: true);
        }

        if (_near.TryGet(key, link, out var copy))
        {
            _metrics.NearHit(_kind, node.Name);
            return copy;
        }

        if (_near.BeginRead(key, link) is not { } read)
        {
            return ExecuteSync(node, "get", key, static (client, key, deadline) => client.Get(key, deadline), null, read: true);
        }

        try
        {
            var (value, ttl) = ExecuteSync(node, "get", key, static (client, key, deadline) => client.GetWithTimeToLive(key, deadline), ((byte[]?)null, -2L), read: true);
            _near.Complete(read, value, Lifetime(ttl));
            return value;
        }
        catch
        {
            _near.Abandon(read);
            throw;
        }
    }

    public async ValueTask<byte[]?[]> GetManyAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        var result = new byte[]?[keys.Count];
        await PerNodeAsync(keys, static k => k, async (node, indexes) =>
        {
            var values = await ExecuteAsync(node, "get_many", (store: this, keys: indexes.Select(i => keys[i]).ToArray()), static (db, s) => GetBySlotAsync(db, s.keys, s.store.IsCluster(db.Multiplexer)), null, cancellationToken, read: true).ConfigureAwait(false);
            for (var j = 0; values is not null && j < indexes.Length; j++)
            {
                var value = (byte[]?)values[j];
                result[indexes[j]] = value;
                _near?.Observe(keys[indexes[j]], value);
            }
        }).ConfigureAwait(false);
        return result;
    }

    public async ValueTask SetAsync(string key, byte[] value, TimeSpan timeToLive, CancellationToken cancellationToken)
    {
        Evict(key);
        await ExecuteAsync(NodeOf(key), "set", (key, value, timeToLive), static (db, s) => db.StringSetAsync(s.key, s.value, Ttl(s.timeToLive)), false, cancellationToken).ConfigureAwait(false);
        Evict(key);
    }

    public void Set(string key, byte[] value, TimeSpan timeToLive)
    {
        Evict(key);
        ExecuteSync(NodeOf(key), "set", (key, value, timeToLive), static (client, s, deadline) =>
        {
            client.Set(s.key, s.value, Milliseconds(s.timeToLive), deadline);
            return true;
        }, false);
        Evict(key);
    }

    public async ValueTask SetManyAsync(IReadOnlyList<StoreEntry> entries, CancellationToken cancellationToken)
    {
        EvictAll(entries, static e => e.Key);
        await PerNodeAsync(entries, static e => e.Key, async (node, indexes) =>
            await ExecuteAsync(node, "set_many", indexes.Select(i => entries[i]).ToArray(), static (db, part) => SetAllAsync(db, part), false, cancellationToken).ConfigureAwait(false)).ConfigureAwait(false);
        EvictAll(entries, static e => e.Key);
    }

    public async ValueTask<bool> AddAsync(string key, byte[] value, TimeSpan timeToLive, CancellationToken cancellationToken)
    {
        Evict(key);
        var added = await ExecuteAsync(NodeOf(key), "add", (key, value, timeToLive), static (db, s) => db.StringSetAsync(s.key, s.value, Ttl(s.timeToLive), When.NotExists), false, cancellationToken).ConfigureAwait(false);
        Evict(key);
        return added;
    }

    public async ValueTask<bool> DeleteAsync(string key, CancellationToken cancellationToken)
    {
        Evict(key);
        var deleted = await ExecuteAsync(NodeOf(key), "delete", key, static (db, key) => db.KeyDeleteAsync(key), false, cancellationToken).ConfigureAwait(false);
        Evict(key);
        return deleted;
    }

    public bool Delete(string key)
    {
        Evict(key);
        var deleted = ExecuteSync(NodeOf(key), "delete", key, static (client, key, deadline) => client.Delete(key, deadline), false);
        Evict(key);
        return deleted;
    }

    public async ValueTask<long> DeleteManyAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        EvictAll(keys, static k => k);
        long removed = 0;
        await PerNodeAsync(keys, static k => k, async (node, indexes) =>
        {
            var count = await ExecuteAsync(node, "delete_many", (store: this, keys: indexes.Select(i => keys[i]).ToArray()), static (db, s) => DeleteBySlotAsync(db, s.keys, s.store.IsCluster(db.Multiplexer)), 0L, cancellationToken).ConfigureAwait(false);
            Interlocked.Add(ref removed, count);
        }).ConfigureAwait(false);
        EvictAll(keys, static k => k);
        return removed;
    }

    public ValueTask<bool> ExistsAsync(string key, CancellationToken cancellationToken) =>
        ExecuteAsync(NodeOf(key), "exists", key, static (db, key) => db.KeyExistsAsync(key), false, cancellationToken, read: true);

    public async ValueTask<bool> ExpireAsync(string key, TimeSpan timeToLive, CancellationToken cancellationToken)
    {
        Evict(key);
        var existed = await ExecuteAsync(NodeOf(key), "expire", (key, timeToLive), static (db, s) => db.KeyExpireAsync(s.key, Ttl(s.timeToLive)), false, cancellationToken).ConfigureAwait(false);
        Evict(key);
        return existed;
    }

    public bool Expire(string key, TimeSpan timeToLive)
    {
        Evict(key);
        var existed = ExecuteSync(NodeOf(key), "expire", (key, timeToLive), static (client, s, deadline) => client.Expire(s.key, Milliseconds(s.timeToLive), deadline), false);
        Evict(key);
        return existed;
    }

    public void ExpireInBackground(string key, TimeSpan timeToLive)
    {
        var database = _database;
        if (database is null)
        {
            // Nothing asynchronous has connected yet (an application that only reads synchronously): connect now, for
            // the next renewal. This one is skipped; the entry still has the lifetime of its last write or renewal.
            _ = GetDatabaseAsync(CancellationToken.None).AsTask().ContinueWith(static t => _ = t.Exception, TaskScheduler.Default);
            return;
        }

        var node = NodeOf(key);
        if (!node.Circuit.TryEnter())
        {
            return;
        }

        try
        {
            database.KeyExpire(key, Ttl(timeToLive), CommandFlags.FireAndForget);
        }
        catch (Exception ex) when (ex is RedisException or InvalidOperationException or ObjectDisposedException)
        {
            _metrics.Error(_kind, node.Name, "expire", "connection");
            LogOperationFailed(_logger, node.Name, "expire", ex);
        }
    }

    public async ValueTask<long> IncrementAsync(string key, long delta, TimeSpan timeToLive, CancellationToken cancellationToken)
    {
        Evict(key);
        var value = await ExecuteAsync(NodeOf(key), "increment", (key, delta, timeToLive), static (db, s) => IncrementCoreAsync(db, s.key, s.delta, s.timeToLive), 0L, cancellationToken).ConfigureAwait(false);
        Evict(key);
        return value;
    }

    public async ValueTask<long> ClearAsync(string prefix, CancellationToken cancellationToken)
    {
        try
        {
            return await ClearCoreAsync(prefix, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not RcCacheException)
        {
            return Fail(_server, "clear", 0L, "connection", ex);
        }
    }

    public async ValueTask<string?[]> GetTagVersionsAsync(IReadOnlyList<TagKeys> tags, CancellationToken cancellationToken)
    {
        var versions = new string?[tags.Count];
        await PerNodeAsync(tags, static t => t.Routing, async (node, indexes) =>
        {
            var read = await ExecuteAsync(
                node,
                "tag_versions",
                indexes.Select(i => tags[i]).ToArray(),
                static async (db, part) => await Task.WhenAll(part.Select(t => db.StringGetAsync(t.Version))).ConfigureAwait(false),
                null,
                cancellationToken,
                read: true).ConfigureAwait(false);
            for (var j = 0; read is not null && j < indexes.Length; j++)
            {
                versions[indexes[j]] = read[j];
            }
        }).ConfigureAwait(false);
        return versions;
    }

    public ValueTask<bool> TagAsync(TagKeys tag, IReadOnlyList<TagMember> members, string? expectedVersion, CancellationToken cancellationToken) =>
        ExecuteAsync(NodeOf(tag.Routing), "tag", (tag, members, expectedVersion, now: _time.GetUtcNow().ToUnixTimeMilliseconds()), static async (db, s) =>
        {
            // One pipeline on the tag's server, in this order: what is added before the version is read is seen by any
            // invalidation that changes the version after.
            var batch = db.CreateBatch();
            var lifetime = TimeSpan.FromMilliseconds(Math.Max(1, s.members.Max(static m => m.ExpiresAt) - s.now));
            var add = batch.SortedSetAddAsync(s.tag.Members, [.. s.members.Select(static m => new SortedSetEntry(m.Key, m.ExpiresAt))]);
            var prune = batch.SortedSetRemoveRangeByScoreAsync(s.tag.Members, double.NegativeInfinity, s.now);
            var first = batch.KeyExpireAsync(s.tag.Members, lifetime, ExpireWhen.HasNoExpiry);
            var longer = batch.KeyExpireAsync(s.tag.Members, lifetime, ExpireWhen.GreaterThanCurrentExpiry);
            var version = batch.StringGetAsync(s.tag.Version);
            batch.Execute();
            await Task.WhenAll(add, prune, first, longer, version).ConfigureAwait(false);
            return (string?)version.Result == s.expectedVersion;
        }, false, cancellationToken);

    public ValueTask<string[]> BumpTagAsync(TagKeys tag, TimeSpan versionLifetime, CancellationToken cancellationToken) =>
        ExecuteAsync(NodeOf(tag.Routing), "invalidate_tag", (tag, versionLifetime), static async (db, s) =>
        {
            var batch = db.CreateBatch();
            var bump = batch.StringSetAsync(s.tag.Version, Guid.NewGuid().ToString("N"), s.versionLifetime);
            var members = batch.SortedSetRangeByRankAsync(s.tag.Members);
            batch.Execute();
            await bump.ConfigureAwait(false);
            return (await members.ConfigureAwait(false)).Select(static m => (string)m!).ToArray();
        }, [], cancellationToken);

    public int RoundTrips(IReadOnlyList<string> keys) =>
        keys.Count == 0 ? 0 : Cluster() is null ? 1 : keys.Select(static k => HashSlot.Of(k)).Distinct().Count();

    public async ValueTask<IReadOnlyList<ShardStatus>> CheckHealthAsync(CancellationToken cancellationToken)
    {
        try
        {
            var database = await GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
            var connection = database.Multiplexer;
            if (!IsCluster(connection))
            {
                var latency = await database.PingAsync().WaitAsync(_timeout, _time, cancellationToken).ConfigureAwait(false);
                return [new ShardStatus(_shard, true, latency, null)];
            }

            var statuses = new List<ShardStatus>();
            foreach (var endPoint in connection.GetEndPoints())
            {
                var server = connection.GetServer(endPoint);
                var name = $"{_shard}/{endPoint}";
                try
                {
                    var latency = await server.PingAsync().WaitAsync(_timeout, _time, cancellationToken).ConfigureAwait(false);
                    statuses.Add(new ShardStatus(name, true, latency, null));
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    statuses.Add(new ShardStatus(name, false, null, Describe(ex)));
                }
            }

            return statuses;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return [new ShardStatus(_shard, false, null, Describe(ex))];
        }
    }

    public async ValueTask<IReadOnlyDictionary<string, IConnectionMultiplexer>> GetConnectionsAsync(CancellationToken cancellationToken)
    {
        var database = await GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        return new Dictionary<string, IConnectionMultiplexer> { [_shard] = database.Multiplexer };
    }

    public void Dispose()
    {
        DisposeLinks();
        _blocking.Dispose();
        _connection?.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        DisposeLinks();
        _blocking.Dispose();
        if (_connection is { } connection)
        {
            await connection.CloseAsync(allowCommandsToComplete: false).ConfigureAwait(false);
            connection.Dispose();
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<byte[]?> ReadAsync(RedisNode node, string key, CancellationToken cancellationToken) =>
        await ExecuteAsync(node, "get", key, static (db, key) => db.StringGetAsync(key), RedisValue.Null, cancellationToken, read: true).ConfigureAwait(false);

    /// <summary>A near miss: GET and PTTL in one round trip, the answer kept for as long as the key lives unless an invalidation overtook it.</summary>
    private async ValueTask<byte[]?> ReadIntoNearAsync(RedisNode node, NearRead read, CancellationToken cancellationToken)
    {
        try
        {
            var (value, ttl) = await ExecuteAsync(node, "get", read.Key, static (db, key) => GetWithTimeToLiveAsync(db, key), (RedisValue.Null, (TimeSpan?)null), cancellationToken, read: true).ConfigureAwait(false);
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

    private static async Task<(RedisValue, TimeSpan?)> GetWithTimeToLiveAsync(IDatabase db, string key)
    {
        var batch = db.CreateBatch();
        var value = batch.StringGetAsync(key);
        var ttl = batch.KeyTimeToLiveAsync(key);
        batch.Execute();
        return (await value.ConfigureAwait(false), await ttl.ConfigureAwait(false));
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

        if (node == _server && (Cluster() is not null || Volatile.Read(ref _topology) != 1))
        {
            return null;
        }

        var endPoint = node == _server ? _configuration.EndPoints[0] : _nodes.First(n => n.Value == node).Key;
        return node.LinkOrCreate(() => new InvalidationLink(endPoint, _respSettings, _trackedPrefixes, _timeout, _near!, count => _metrics.NearInvalidations(_kind, node.Name, count), _logger));
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
        _server.Link?.Dispose();
        foreach (var node in _nodes.Values)
        {
            node.Link?.Dispose();
        }
    }

    /// <summary>
    /// Runs one command (or one pipelined group) against <paramref name="node"/>: through its circuit, within the
    /// operation timeout, honouring the caller's token. On failure it returns <paramref name="fallback"/> (Degrade) or
    /// throws <see cref="RcCacheException"/> (Throw); data of a foreign type under a read key is always a miss.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<T> ExecuteAsync<TState, T>(
        RedisNode node,
        string operation,
        TState state,
        Func<IDatabase, TState, Task<T>> command,
        T fallback,
        CancellationToken cancellationToken,
        bool read = false)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (!node.Circuit.TryEnter() || FailureBudget.HasFailed(node))
        {
            return Fail(node, operation, fallback, "circuit_open", null);
        }

        var started = Stopwatch.GetTimestamp();
        using var activity = RcMetrics.StartActivity(_kind, node.Name, operation);
        Task<T>? task = null;
        var database = _database;
        try
        {
            task = database is not null ? command(database, state) : ConnectThenRunAsync(state, command, cancellationToken);
            T result;
            if (task.IsCompleted)
            {
                result = await task.ConfigureAwait(false);
            }
            else if (!cancellationToken.CanBeCanceled)
            {
                result = await task.WaitAsync(_deadlines.Next()).ConfigureAwait(false);
            }
            else
            {
                using var either = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _deadlines.Next());
                result = await task.WaitAsync(either.Token).ConfigureAwait(false);
            }

            node.Circuit.OnSuccess();
            _metrics.Duration(_kind, node.Name, operation, started);
            return result;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Observe(task);
            throw;
        }
        catch (Exception ex) when (IsFailure(ex))
        {
            Observe(task);
            return Failed(node, operation, fallback, database is null && ex is TimeoutException or OperationCanceledException ? new ConnectTimeoutException(ex) : ex, read, activity);
        }
    }

    /// <summary>Runs one command on the caller's thread, with the same circuit, timeout and failure handling as <see cref="ExecuteAsync"/>.</summary>
    private T ExecuteSync<TState, T>(RedisNode node, string operation, TState state, Func<BlockingRedisClient, TState, long, T> command, T fallback, bool read = false)
    {
        if (!node.Circuit.TryEnter() || FailureBudget.HasFailed(node))
        {
            return Fail(node, operation, fallback, "circuit_open", null);
        }

        var started = Stopwatch.GetTimestamp();
        using var activity = RcMetrics.StartActivity(_kind, node.Name, operation);
        try
        {
            var result = command(_blocking, state, started + (long)(_timeout.TotalSeconds * Stopwatch.Frequency));
            node.Circuit.OnSuccess();
            _metrics.Duration(_kind, node.Name, operation, started);
            return result;
        }
        catch (Exception ex) when (IsFailure(ex))
        {
            return Failed(node, operation, fallback, ex, read, activity);
        }
    }

    private static bool IsFailure(Exception ex) =>
        ex is TimeoutException or OperationCanceledException or RedisException or RespErrorException or IOException or SocketException or ObjectDisposedException or InvalidOperationException;

    /// <summary>Counts a failed operation against the node's circuit and in telemetry, then degrades or throws.</summary>
    private T Failed<T>(RedisNode node, string operation, T fallback, Exception ex, bool read, Activity? activity)
    {
        switch (ex)
        {
            case ConnectTimeoutException:
                // Still connecting (a cold process on a busy machine): a slow connect is not a server that stopped
                // answering, so it counts as a failure toward the threshold instead of opening the circuit at once.
                node.Circuit.OnFailure();
                FailureBudget.Spent(node);
                _metrics.Timeout(_kind, node.Name, operation);
                activity?.SetStatus(ActivityStatusCode.Error, "timeout");
                return Fail(node, operation, fallback, "timeout", ex);
            case TimeoutException or OperationCanceledException:
                // Our own deadline passed (the caller's token is handled before this).
                node.Circuit.OnTimeout();
                FailureBudget.Spent(node);
                _metrics.Timeout(_kind, node.Name, operation);
                activity?.SetStatus(ActivityStatusCode.Error, "timeout");
                return Fail(node, operation, fallback, "timeout", ex);
            case RedisServerException when operation == "increment" && ex.Message.Contains("not an integer", StringComparison.Ordinal):
                // Not a store failure: the caller asked to count on a value that is not a counter, as on any store.
                node.Circuit.OnSuccess();
                throw new InvalidOperationException("The entry does not hold an integer, so it cannot be incremented.", ex);
            case RedisServerException when operation == "increment" && ex.Message.Contains("overflow", StringComparison.Ordinal):
                node.Circuit.OnSuccess();
                throw new OverflowException("Incrementing the entry would overflow a 64-bit integer.", ex);
            case RedisServerException or RespErrorException when read && ex.Message.StartsWith("WRONGTYPE", StringComparison.Ordinal):
                node.Circuit.OnSuccess();
                _metrics.Error(_kind, node.Name, operation, "foreign_data");
                LogForeignData(_logger, node.Name, operation);
                return fallback;
            case RedisServerException or RespErrorException:
                // The server answered: it is healthy, but refused this command (out of memory, wrong type of value).
                node.Circuit.OnSuccess();
                activity?.SetStatus(ActivityStatusCode.Error, "server");
                return Fail(node, operation, fallback, "server", ex);
            default:
                node.Circuit.OnFailure();
                activity?.SetStatus(ActivityStatusCode.Error, "connection");
                return Fail(node, operation, fallback, "connection", ex);
        }
    }

    private T Fail<T>(RedisNode node, string operation, T fallback, string errorType, Exception? exception)
    {
        _metrics.Error(_kind, node.Name, operation, errorType);
        if (errorType == "circuit_open")
        {
            LogCircuitOpenSkip(_logger, node.Name, operation);
        }
        else
        {
            LogOperationFailed(_logger, node.Name, operation, exception);
        }

        if (_options.FailureMode == RcFailureMode.Throw)
        {
            throw new RcCacheException(
                errorType == "circuit_open"
                    ? $"The cache server '{node.Name}' is skipped: its circuit is open after a failure, or it already cost this request a timeout."
                    : $"The cache operation '{operation}' on '{node.Name}' failed ({errorType}).",
                exception)
            { Shard = node.Name };
        }

        return fallback;
    }

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

        if (Cluster() is null)
        {
            await run(_server, [.. Enumerable.Range(0, items.Count)]).ConfigureAwait(false);
            return;
        }

        var groups = new Dictionary<RedisNode, List<int>>();
        for (var i = 0; i < items.Count; i++)
        {
            var node = NodeOf(keyOf(items[i]));
            if (!groups.TryGetValue(node, out var group))
            {
                groups[node] = group = [];
            }

            group.Add(i);
        }

        await Task.WhenAll(groups.Select(g => run(g.Key, [.. g.Value]))).ConfigureAwait(false);
    }

    /// <summary>The node that serves <paramref name="key"/>: on a cluster, the primary that owns its slot now; else the server.</summary>
    private RedisNode NodeOf(string key) =>
        Cluster() is { } slots && slots.OwnerOf(HashSlot.Of(key)) is { } owner
            ? _nodes.GetOrAdd(owner, static (endPoint, store) => store.Node($"{store._shard}/{endPoint}", () => store.ProbeNodeAsync(endPoint)), this)
            : _server;

    /// <summary>The slot map of a cluster, or null for a single server and while the topology is not known yet.</summary>
    private ClusterSlotMap? Cluster()
    {
        if (Volatile.Read(ref _slots) is { } slots)
        {
            return slots;
        }

        if (Volatile.Read(ref _topology) == 1 || _connection is not { } connection || !IsCluster(connection))
        {
            return null;
        }

        Interlocked.CompareExchange(ref _slots, new ClusterSlotMap(connection), null);
        return _slots;
    }

    private RedisNode Node(string name, Func<Task> probe) =>
        new(name, new CircuitBreaker(_options.CircuitBreakerThreshold, _options.CircuitBreakDuration, _time, probe, state => OnCircuitChanged(name, state)));

    /// <summary>The server's probe: one PING, waited for as long as the client itself allows (a frozen server's reply arrives the moment it resumes).</summary>
    private async Task ProbeServerAsync()
    {
        var database = await GetDatabaseAsync(CancellationToken.None).ConfigureAwait(false);
        await database.PingAsync().ConfigureAwait(false);
    }

    private async Task ProbeNodeAsync(EndPoint endPoint)
    {
        var database = await GetDatabaseAsync(CancellationToken.None).ConfigureAwait(false);
        await database.Multiplexer.GetServer(endPoint).PingAsync().ConfigureAwait(false);
    }

    private async Task<T> ConnectThenRunAsync<TState, T>(TState state, Func<IDatabase, TState, Task<T>> command, CancellationToken cancellationToken) =>
        await command(await GetDatabaseAsync(cancellationToken).ConfigureAwait(false), state).ConfigureAwait(false);

    private async ValueTask<IDatabase> GetDatabaseAsync(CancellationToken cancellationToken)
    {
        if (_database is { } database)
        {
            return database;
        }

        Task<ConnectionMultiplexer> connecting;
        lock (_connectLock)
        {
            connecting = _connecting ??= ConnectAsync();
        }

        var connection = await connecting.WaitAsync(_timeout, _time, cancellationToken).ConfigureAwait(false);
        return _database = connection.GetDatabase();
    }

    private async Task<ConnectionMultiplexer> ConnectAsync()
    {
        try
        {
            return _connection = await ConnectionMultiplexer.ConnectAsync(_configuration).ConfigureAwait(false);
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

    private bool IsCluster(IConnectionMultiplexer connection)
    {
        var topology = Volatile.Read(ref _topology);
        if (topology != 0)
        {
            return topology == 2;
        }

        var connected = connection.GetEndPoints().Select(ep => connection.GetServer(ep)).Where(static s => s.IsConnected).ToArray();
        if (connected.Length == 0)
        {
            return false;
        }

        topology = connected.Any(static s => s.ServerType == ServerType.Cluster) ? 2 : 1;
        Volatile.Write(ref _topology, topology);
        return topology == 2;
    }

    private async Task<long> ClearCoreAsync(string prefix, CancellationToken cancellationToken)
    {
        var database = await GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        var connection = database.Multiplexer;
        var pattern = EscapeGlob(prefix) + "*";
        var primaries = IsCluster(connection)
            ? connection.GetEndPoints().Select(ep => connection.GetServer(ep)).Where(static s => s.IsConnected && !s.IsReplica).ToArray()
            : [connection.GetServer(connection.GetEndPoints().First(ep => connection.GetServer(ep) is { IsConnected: true, IsReplica: false }))];
        var totals = await Task.WhenAll(primaries.Select(server => ClearServerAsync(server, database.Database, pattern, cancellationToken))).ConfigureAwait(false);
        return totals.Sum();
    }

    /// <summary>SCAN one primary with the client's cursor, deleting each page as it comes.</summary>
    private async Task<long> ClearServerAsync(IServer server, int database, string pattern, CancellationToken cancellationToken)
    {
        long removed = 0;
        var page = new List<string>(ScanPageSize);
        await foreach (var key in server.KeysAsync(database, pattern, ScanPageSize).WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            page.Add(key!);
            if (page.Count == ScanPageSize)
            {
                removed += await DeleteManyAsync([.. page], cancellationToken).ConfigureAwait(false);
                page.Clear();
            }
        }

        return page.Count == 0 ? removed : removed + await DeleteManyAsync([.. page], cancellationToken).ConfigureAwait(false);
    }

    /// <summary>MGET of keys one server holds: one command, or on a cluster node one per hash slot, so that none fails with CROSSSLOT.</summary>
    private static async Task<RedisValue[]?> GetBySlotAsync(IDatabase db, string[] keys, bool cluster)
    {
        var groups = cluster ? GroupBySlot(keys) : [];
        if (groups.Length <= 1)
        {
            return await db.StringGetAsync(ToRedisKeys(keys)).ConfigureAwait(false);
        }

        var values = new RedisValue[keys.Length];
        var replies = await Task.WhenAll(groups.Select(g => db.StringGetAsync(g.Select(i => (RedisKey)keys[i]).ToArray()))).ConfigureAwait(false);
        for (var g = 0; g < groups.Length; g++)
        {
            for (var j = 0; j < groups[g].Length; j++)
            {
                values[groups[g][j]] = replies[g][j];
            }
        }

        return values;
    }

    private static async Task<bool> SetAllAsync(IDatabase db, StoreEntry[] entries)
    {
        // One batch: the SETs leave in one write, back to back, whatever else shares the connection.
        var batch = db.CreateBatch();
        var writes = new Task<bool>[entries.Length];
        for (var i = 0; i < writes.Length; i++)
        {
            writes[i] = batch.StringSetAsync(entries[i].Key, entries[i].Value, Ttl(entries[i].TimeToLive));
        }

        batch.Execute();
        await Task.WhenAll(writes).ConfigureAwait(false);
        return true;
    }

    private static async Task<long> DeleteBySlotAsync(IDatabase db, string[] keys, bool cluster)
    {
        var groups = cluster ? GroupBySlot(keys) : [];
        if (groups.Length <= 1)
        {
            return await db.KeyDeleteAsync(ToRedisKeys(keys)).ConfigureAwait(false);
        }

        var counts = await Task.WhenAll(groups.Select(g => db.KeyDeleteAsync(g.Select(i => (RedisKey)keys[i]).ToArray()))).ConfigureAwait(false);
        return counts.Sum();
    }

    private static async Task<long> IncrementCoreAsync(IDatabase db, string key, long delta, TimeSpan timeToLive)
    {
        var value = await db.StringIncrementAsync(key, delta).ConfigureAwait(false);
        if (value == delta)
        {
            // Created by this call (or it held 0): give it a lifetime, as a cache entry must have one.
            await db.KeyExpireAsync(key, Ttl(timeToLive)).ConfigureAwait(false);
        }

        return value;
    }

    /// <summary>Indexes of <paramref name="keys"/> by hash slot.</summary>
    private static int[][] GroupBySlot(IReadOnlyList<string> keys)
    {
        var groups = new Dictionary<int, List<int>>();
        for (var i = 0; i < keys.Count; i++)
        {
            var slot = HashSlot.Of(keys[i]);
            if (!groups.TryGetValue(slot, out var group))
            {
                groups[slot] = group = [];
            }

            group.Add(i);
        }

        return groups.Values.Select(static g => g.ToArray()).ToArray();
    }

    private static RedisKey[] ToRedisKeys(IReadOnlyList<string> keys)
    {
        var redisKeys = new RedisKey[keys.Count];
        for (var i = 0; i < redisKeys.Length; i++)
        {
            redisKeys[i] = keys[i];
        }

        return redisKeys;
    }

    /// <summary>Redis takes whole milliseconds, at least one.</summary>
    private static TimeSpan Ttl(TimeSpan timeToLive) => TimeSpan.FromMilliseconds(Milliseconds(timeToLive));

    private static long Milliseconds(TimeSpan timeToLive) => Math.Max(1, (long)Math.Ceiling(timeToLive.TotalMilliseconds));

    private static string EscapeGlob(string prefix)
    {
        var builder = new StringBuilder(prefix.Length + 8);
        foreach (var c in prefix)
        {
            if (c is '*' or '?' or '[' or ']' or '\\')
            {
                builder.Append('\\');
            }

            builder.Append(c);
        }

        return builder.ToString();
    }

    private static string Describe(Exception ex) => ex switch
    {
        TimeoutException => "timeout",
        RedisConnectionException => "connection failed",
        _ => ex.GetType().Name,
    };

    private static void Observe(Task? task) =>
        task?.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    private void OnCircuitChanged(string node, CircuitState state)
    {
        var name = state == CircuitState.Open ? "open" : "closed";
        _metrics.CircuitChanged(_kind, node, name);
        LogCircuitChanged(_logger, node, name);
    }
}
