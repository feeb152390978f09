using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Extensions.Logging;
using RcAspNet.Diagnostics;
using StackExchange.Redis;

namespace RcAspNet.Stores;

/// <summary>
/// One Redis server or one Redis Cluster behind one lazily connected <see cref="ConnectionMultiplexer"/>. Every
/// operation is bounded by the operation timeout and guarded by a circuit breaker; a failure is degraded to a miss
/// or a dropped write, or surfaced, as <see cref="RcFailureMode"/> says. Against a cluster, multi-key commands are
/// split by hash slot, so they never fail with CROSSSLOT.
/// </summary>
internal sealed partial class RedisStore : IRcStore
{
    private const int ScanPageSize = 1000;

    private readonly ConfigurationOptions _configuration;
    private readonly string _kind;
    private readonly string _shard;
    private readonly RcFailureMode _failureMode;
    private readonly TimeSpan _timeout;
    private readonly TimeProvider _time;
    private readonly RcMetrics _metrics;
    private readonly ILogger _logger;
    private readonly CircuitBreaker _circuit;
    private readonly Deadlines _deadlines;
    private readonly Lock _connectLock = new();
    private Task<ConnectionMultiplexer>? _connecting;
    private ConnectionMultiplexer? _connection;
    private IDatabase? _database;
    private int _topology;

    public RedisStore(ConfigurationOptions configuration, string kind, string shard, RcOptions options, TimeProvider time, RcMetrics metrics, ILogger logger)
    {
        _configuration = configuration.Clone();
        _configuration.AbortOnConnectFail = false;
        _kind = kind;
        _shard = shard;
        _failureMode = options.FailureMode;
        _timeout = options.OperationTimeout;
        _time = time;
        _metrics = metrics;
        _logger = logger;
        _circuit = new CircuitBreaker(options.CircuitBreakerThreshold, options.CircuitBreakDuration, time, OnCircuitChanged);
        _deadlines = new Deadlines(options.OperationTimeout, time);
    }

    public string Kind => _kind;

    public bool SharesBuffers => false;

    internal CircuitState CircuitState => _circuit.State;

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken)
    {
        var value = await ExecuteAsync("get", key, static (db, key) => db.StringGetAsync(key), RedisValue.Null, cancellationToken, read: true).ConfigureAwait(false);
        _metrics.Lookup(_kind, _shard, "get", value.IsNull ? 0 : 1, value.IsNull ? 1 : 0);
        return value;
    }

    public async ValueTask<byte[]?[]> GetManyAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        var result = new byte[]?[keys.Count];
        if (keys.Count == 0)
        {
            return result;
        }

        var values = await ExecuteAsync("get_many", (store: this, keys), static (db, s) => s.store.GetManyCoreAsync(db, s.keys), null, cancellationToken, read: true).ConfigureAwait(false);
        var hits = 0;
        if (values is not null)
        {
            for (var i = 0; i < result.Length; i++)
            {
                result[i] = values[i];
                hits += values[i].IsNull ? 0 : 1;
            }
        }

        _metrics.Lookup(_kind, _shard, "get_many", hits, result.Length - hits);
        return result;
    }

    public async ValueTask SetAsync(string key, byte[] value, TimeSpan timeToLive, CancellationToken cancellationToken) =>
        await ExecuteAsync("set", (key, value, timeToLive), static (db, s) => db.StringSetAsync(s.key, s.value, Ttl(s.timeToLive)), false, cancellationToken).ConfigureAwait(false);

    public async ValueTask SetManyAsync(IReadOnlyList<StoreEntry> entries, CancellationToken cancellationToken)
    {
        if (entries.Count > 0)
        {
            await ExecuteAsync("set_many", entries, static (db, entries) => SetManyCoreAsync(db, entries), false, cancellationToken).ConfigureAwait(false);
        }
    }

    public ValueTask<bool> AddAsync(string key, byte[] value, TimeSpan timeToLive, CancellationToken cancellationToken) =>
        ExecuteAsync("add", (key, value, timeToLive), static (db, s) => db.StringSetAsync(s.key, s.value, Ttl(s.timeToLive), When.NotExists), false, cancellationToken);

    public ValueTask<bool> DeleteAsync(string key, CancellationToken cancellationToken) =>
        ExecuteAsync("delete", key, static (db, key) => db.KeyDeleteAsync(key), false, cancellationToken);

    public ValueTask<long> DeleteManyAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken) =>
        keys.Count == 0 ? default : ExecuteAsync("delete_many", (store: this, keys), static (db, s) => s.store.DeleteManyCoreAsync(db, s.keys), 0L, cancellationToken);

    public ValueTask<bool> ExistsAsync(string key, CancellationToken cancellationToken) =>
        ExecuteAsync("exists", key, static (db, key) => db.KeyExistsAsync(key), false, cancellationToken, read: true);

    public ValueTask<bool> ExpireAsync(string key, TimeSpan timeToLive, CancellationToken cancellationToken) =>
        ExecuteAsync("expire", (key, timeToLive), static (db, s) => db.KeyExpireAsync(s.key, Ttl(s.timeToLive)), false, cancellationToken);

    public void ExpireInBackground(string key, TimeSpan timeToLive)
    {
        var database = _database;
        if (database is null || !_circuit.TryEnter())
        {
            return;
        }

        try
        {
            database.KeyExpire(key, Ttl(timeToLive), CommandFlags.FireAndForget);
        }
        catch (Exception ex) when (ex is RedisException or InvalidOperationException or ObjectDisposedException)
        {
            _metrics.Error(_kind, _shard, "expire", "connection");
            LogOperationFailed(_logger, _shard, "expire", ex);
        }
    }

    public ValueTask<long> IncrementAsync(string key, long delta, TimeSpan timeToLive, CancellationToken cancellationToken) =>
        ExecuteAsync("increment", (key, delta, timeToLive), static (db, s) => IncrementCoreAsync(db, s.key, s.delta, s.timeToLive), 0L, cancellationToken);

    public async ValueTask<long> ClearAsync(string prefix, CancellationToken cancellationToken)
    {
        try
        {
            return await ClearCoreAsync(prefix, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not RcCacheException)
        {
            return Fail("clear", 0L, "connection", ex);
        }
    }

    private async Task<long> ClearCoreAsync(string prefix, CancellationToken cancellationToken)
    {
        var database = await GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        var pattern = EscapeGlob(prefix) + "*";
        if (!IsCluster(database.Multiplexer))
        {
            long removed = 0;
            var cursor = 0L;
            do
            {
                var page = await ExecuteAsync("scan", (cursor, pattern), static (db, s) => db.ExecuteAsync("SCAN", s.cursor, "MATCH", s.pattern, "COUNT", ScanPageSize), null, cancellationToken).ConfigureAwait(false)
                    ?? throw new RcCacheException($"Clearing '{_shard}' failed: SCAN did not answer.") { Shard = _shard };
                var parts = (RedisResult[])page!;
                cursor = long.Parse((string)parts[0]!, System.Globalization.CultureInfo.InvariantCulture);
                var keys = ((RedisKey[])parts[1]!).Select(static k => (string)k!).ToArray();
                removed += await DeleteManyAsync(keys, cancellationToken).ConfigureAwait(false);
            }
            while (cursor != 0);

            return removed;
        }

        // StackExchange.Redis 1.2.6 has no async SCAN against one cluster node: page with IServer.Keys on a thread
        // of its own, so that no pool thread blocks on the network.
        var connection = database.Multiplexer;
        var masters = connection.GetEndPoints().Select(ep => connection.GetServer(ep)).Where(static s => s.IsConnected && !s.IsSlave).ToArray();
        var totals = await Task.WhenAll(masters.Select(server => Task.Factory.StartNew(
            () =>
            {
                long removed = 0;
                foreach (var page in server.Keys(0, pattern, ScanPageSize).Select(static k => (string)k!).Chunk(ScanPageSize))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    removed += DeleteManyAsync(page, cancellationToken).AsTask().GetAwaiter().GetResult();
                }

                return removed;
            },
            cancellationToken,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default))).ConfigureAwait(false);
        return totals.Sum();
    }

    public int RoundTrips(IReadOnlyList<string> keys) => keys.Count == 0 ? 0 : 1;

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

    public void Dispose() => _connection?.Dispose();

    public async ValueTask DisposeAsync()
    {
        if (_connection is { } connection)
        {
            await connection.CloseAsync(allowCommandsToComplete: false).ConfigureAwait(false);
            connection.Dispose();
        }
    }

    /// <summary>
    /// Runs one command (or one pipelined group) against the server: through the circuit, within the operation
    /// timeout, honouring the caller's token. On failure it returns <paramref name="fallback"/> (Degrade) or throws
    /// <see cref="RcCacheException"/> (Throw); data of a foreign type under a read key is always a miss.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<T> ExecuteAsync<TState, T>(
        string operation,
        TState state,
        Func<IDatabase, TState, Task<T>> command,
        T fallback,
        CancellationToken cancellationToken,
        bool read = false)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (!_circuit.TryEnter())
        {
            return Fail(operation, fallback, "circuit_open", null);
        }

        var started = Stopwatch.GetTimestamp();
        using var activity = RcMetrics.StartActivity(_kind, _shard, operation);
        Task<T>? task = null;
        try
        {
            var database = _database;
            task = database is not null ? command(database, state) : ConnectThenRunAsync(state, command, cancellationToken);
            var result = task.IsCompleted ? await task.ConfigureAwait(false)
                : cancellationToken.CanBeCanceled ? await task.WaitAsync(_timeout, _time, cancellationToken).ConfigureAwait(false)
                : await task.WaitAsync(_deadlines.Next()).ConfigureAwait(false);
            _circuit.OnSuccess();
            _metrics.Duration(_kind, _shard, operation, started);
            return result;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            _circuit.OnAbandoned();
            Observe(task);
            throw;
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            // Our own deadline passed (the caller's token is handled above).
            Observe(task);
            _circuit.OnFailure();
            _metrics.Timeout(_kind, _shard, operation);
            activity?.SetStatus(ActivityStatusCode.Error, "timeout");
            return Fail(operation, fallback, "timeout", ex);
        }
        catch (RedisServerException ex) when (read && ex.Message.StartsWith("WRONGTYPE", StringComparison.Ordinal))
        {
            _circuit.OnSuccess();
            _metrics.Error(_kind, _shard, operation, "foreign_data");
            LogForeignData(_logger, _shard, operation);
            return fallback;
        }
        catch (RedisServerException ex)
        {
            // The server answered: it is healthy, but refused this command (out of memory, wrong type of value).
            _circuit.OnSuccess();
            activity?.SetStatus(ActivityStatusCode.Error, "server");
            return Fail(operation, fallback, "server", ex);
        }
        catch (Exception ex) when (ex is RedisException or IOException or System.Net.Sockets.SocketException or ObjectDisposedException or InvalidOperationException)
        {
            _circuit.OnFailure();
            activity?.SetStatus(ActivityStatusCode.Error, "connection");
            return Fail(operation, fallback, "connection", ex);
        }
    }

    private T Fail<T>(string operation, T fallback, string errorType, Exception? exception)
    {
        _metrics.Error(_kind, _shard, operation, errorType);
        if (errorType == "circuit_open")
        {
            LogCircuitOpenSkip(_logger, _shard, operation);
        }
        else
        {
            LogOperationFailed(_logger, _shard, operation, exception);
        }

        if (_failureMode == RcFailureMode.Throw)
        {
            throw new RcCacheException(
                errorType == "circuit_open"
                    ? $"The cache server '{_shard}' is skipped: its circuit is open after repeated failures."
                    : $"The cache operation '{operation}' on '{_shard}' failed ({errorType}).",
                exception)
            { Shard = _shard };
        }

        return fallback;
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
            var connection = await ConnectionMultiplexer.ConnectAsync(_configuration).ConfigureAwait(false);
#pragma warning disable CS0618 // Obsolete in 2.x, where it is a no-op: replies there already complete unordered.
            // 1.2.6 otherwise runs every caller's continuation on one ordered-completion thread, which caps throughput.
            connection.PreserveAsyncOrder = false;
#pragma warning restore CS0618
            _connection = connection;
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

    private async Task<RedisValue[]?> GetManyCoreAsync(IDatabase db, IReadOnlyList<string> keys)
    {
        if (!IsCluster(db.Multiplexer))
        {
            return await db.StringGetAsync(ToRedisKeys(keys)).ConfigureAwait(false);
        }

        var values = new RedisValue[keys.Count];
        var groups = GroupBySlot(db.Multiplexer, keys);
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

    private static async Task<bool> SetManyCoreAsync(IDatabase db, IReadOnlyList<StoreEntry> entries)
    {
        // One batch: the SETs leave in one write, back to back, whatever else shares the connection.
        var batch = db.CreateBatch();
        var writes = new Task<bool>[entries.Count];
        for (var i = 0; i < writes.Length; i++)
        {
            writes[i] = batch.StringSetAsync(entries[i].Key, entries[i].Value, Ttl(entries[i].TimeToLive));
        }

        batch.Execute();
        await Task.WhenAll(writes).ConfigureAwait(false);
        return true;
    }

    private async Task<long> DeleteManyCoreAsync(IDatabase db, IReadOnlyList<string> keys)
    {
        if (!IsCluster(db.Multiplexer))
        {
            return await db.KeyDeleteAsync(ToRedisKeys(keys)).ConfigureAwait(false);
        }

        var groups = GroupBySlot(db.Multiplexer, keys);
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

    private static int[][] GroupBySlot(IConnectionMultiplexer connection, IReadOnlyList<string> keys)
    {
        var groups = new Dictionary<int, List<int>>();
        for (var i = 0; i < keys.Count; i++)
        {
            var slot = connection.HashSlot(keys[i]);
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
    private static TimeSpan Ttl(TimeSpan timeToLive) =>
        TimeSpan.FromMilliseconds(Math.Max(1, Math.Ceiling(timeToLive.TotalMilliseconds)));

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

    private void OnCircuitChanged(CircuitState state)
    {
        var name = state switch { CircuitState.Open => "open", CircuitState.HalfOpen => "half_open", _ => "closed" };
        _metrics.CircuitChanged(_kind, _shard, name);
        LogCircuitChanged(_logger, _shard, name);
    }
}
