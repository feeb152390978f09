using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using Microsoft.Extensions.Logging;
using RcAspNet.Diagnostics;
using RcAspNet.Stores.Near;

namespace RcAspNet.Stores.Redis;

/// <summary>
/// A store's line to one Redis server: a connection of its own, read on a thread of its own (never the thread pool), so
/// that what it learns does not wait for a starved pool. It says at once when its connection is lost (<c>lost</c>: the
/// server may come back from its disk without removals it acknowledged), and which <c>run_id</c> the server has each
/// time it connects (<c>identified</c>). With the near cache, the server also pushes on it an invalidation for every key
/// under the tracked prefixes that anyone changes (RESP3, <c>CLIENT TRACKING ON BCAST</c>). The link is up only once it
/// is ready. An error, a closed connection, or a heartbeat left unanswered for the operation timeout takes it down and
/// moves its epoch on, which invalidates every copy read through it; then it connects again by itself. The heartbeat
/// goes every second whatever else arrives: its answer comes after every invalidation the server sent before it, so a
/// link that falls behind the server's invalidations by more than the timeout goes down too (without suspecting the
/// server, which kept sending). With the near cache on a
/// cluster, the heartbeat is <c>CLUSTER INFO</c>: a primary cut off from its cluster (<c>cluster_state:fail</c>), whose
/// slots another primary may now serve, takes the link down.
/// </summary>
internal sealed partial class ServerLink : IDisposable
{
    private static readonly TimeSpan PingInterval = TimeSpan.FromSeconds(1);

    private readonly EndPoint _endPoint;
    private readonly RespSettings _settings;
    private readonly string[] _prefixes;
    private readonly TimeSpan _timeout;
    private readonly NearCopies? _cache;
    private readonly Action<int> _invalidated;
    private readonly Action _lost;
    private readonly Action<string> _identified;
    private readonly Func<bool> _cluster;
    private readonly QuietLogger _logger;
    private volatile bool _disposed;
    private bool _behind;
    private int _up;
    private long _vouchedUntil; // Stopwatch ticks
    private long _epoch;
    private RespConnection? _connection;
    private Exception? _refusal;

    /// <param name="endPoint">The server.</param>
    /// <param name="settings">How to connect to it.</param>
    /// <param name="prefixes">The namespaces whose changes the near cache follows.</param>
    /// <param name="timeout">How long a PING may go unanswered.</param>
    /// <param name="cache">The near cache; null when it is off, and then nothing is tracked.</param>
    /// <param name="invalidated">Told how many keys Redis reported changed.</param>
    /// <param name="lost">Told, on the link's thread, when its connection was lost (not when the link only fell behind its invalidations).</param>
    /// <param name="identified">Told, on the link's thread, the server's <c>run_id</c> each time the link connects.</param>
    /// <param name="cluster">Whether the server is a cluster node, asked each time the link connects.</param>
    /// <param name="logger">Where the link's changes are logged.</param>
    public ServerLink(EndPoint endPoint, RespSettings settings, IReadOnlyCollection<string> prefixes, TimeSpan timeout, NearCopies? cache, Action<int> invalidated, Action lost, Action<string> identified, Func<bool> cluster, ILogger logger)
    {
        _cluster = cluster;
        _endPoint = endPoint;
        _settings = settings;
        _prefixes = [.. Distinct(prefixes)];
        _timeout = timeout;
        _cache = cache;
        _invalidated = invalidated;
        _lost = lost;
        _identified = identified;
        // A logger that throws (a provider that fails: a full disk, a broken sink) must neither end this thread, and
        // the process with it, nor take a link that is up down again.
        _logger = new QuietLogger(logger);
        new Thread(Run) { IsBackground = true, Name = $"RcAspNet link to {endPoint}" }.Start();
    }

    /// <summary>Gets the server's endpoint: on a cluster, near copies are read from this server alone.</summary>
    public EndPoint EndPoint => _endPoint;

    /// <summary>Gets whether the server is tracking for this link now, so that copies read through it may be served.</summary>
    public bool IsUp => Volatile.Read(ref _up) != 0;

    /// <summary>
    /// Gets whether the link answered a heartbeat lately enough to vouch for its copies: its answer came after every
    /// invalidation the server sent before it. A link whose thread stalls (a process paused, a callback that blocks)
    /// leaves them unread yet up; its copies are then not served from one heartbeat and three timeouts after the last
    /// answered heartbeat was sent. A link that keeps up sends the next one a heartbeat after an answer and is down a
    /// timeout after that without one, so it reaches that only when its thread is late by more than a timeout.
    /// </summary>
    public bool Vouches => Stopwatch.GetTimestamp() < Volatile.Read(ref _vouchedUntil);

    /// <summary>Gets the link's epoch: it moves on whenever the link goes down or the server flushes, invalidating every older copy.</summary>
    public long Epoch => Interlocked.Read(ref _epoch);

    /// <summary>
    /// Gets why the server would not let the link in at its last attempt (it refused the credentials, or the TLS
    /// certificate was not accepted); null once the link got in, or failed for another reason.
    /// </summary>
    public Exception? Refusal => Volatile.Read(ref _refusal);

    public void Dispose()
    {
        _disposed = true;
        Volatile.Read(ref _connection)?.Dispose();
    }

    /// <summary>Broadcast prefixes must not overlap: a prefix that another one starts covers it.</summary>
    private static IEnumerable<string> Distinct(IReadOnlyCollection<string> prefixes) =>
        prefixes.Contains("") ? [] : prefixes.Distinct(StringComparer.Ordinal).Where(p => !prefixes.Any(q => q.Length < p.Length && p.StartsWith(q, StringComparison.Ordinal)));

    private void Run()
    {
        var backoff = TimeSpan.FromMilliseconds(50);
        while (!_disposed)
        {
            try
            {
                backoff = Connect(backoff);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // Nothing should throw this far (the link's logs are written quietly); whatever does must not end the
                // process from this thread. The link connects again.
            }

            if (!_disposed)
            {
                Thread.Sleep(backoff);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(1).Ticks));
            }
        }
    }

    /// <summary>Connects, and listens until the link fails; returns the backoff before the next attempt.</summary>
    private TimeSpan Connect(TimeSpan backoff)
    {
        try
        {
            using var connection = RespConnection.Open(_endPoint, _settings, RespConnection.Deadline(_timeout));
            Volatile.Write(ref _refusal, null);
            Volatile.Write(ref _connection, connection);
            var deadline = RespConnection.Deadline(_timeout);
            _identified(BlockingRedisClient.RunIdOf(connection.Command(2).Arg("INFO").Arg("server").Call(deadline).ThrowIfError().AsString()));

            // Only a cluster node that serves its slots keeps copies: one cut off from its cluster does not come up.
            // (Asked before tracking begins: after it, an invalidation may come before the answer.)
            var clusterHeartbeat = _cache is not null && _cluster();
            if (clusterHeartbeat)
            {
                CheckClusterState(connection.Command(2).Arg("CLUSTER").Arg("INFO").Call(deadline).ThrowIfError());
            }

            if (_cache is not null)
            {
                connection.Command(2).Arg("HELLO").Arg(3).Call(deadline).ThrowIfError();
                var tracking = connection.Command(4 + (2 * _prefixes.Length)).Arg("CLIENT").Arg("TRACKING").Arg("ON").Arg("BCAST");
                foreach (var prefix in _prefixes)
                {
                    tracking.Arg("PREFIX").Arg(prefix);
                }

                tracking.Call(deadline).ThrowIfError();
            }

            Up();
            backoff = TimeSpan.FromMilliseconds(50);
            Listen(connection, clusterHeartbeat);
        }
        catch (Exception ex) when (ex is IOException or SocketException or TimeoutException or RespErrorException or ObjectDisposedException or AuthenticationException)
        {
            Volatile.Write(ref _refusal, RedisCalls.Refusal(ex) is null ? null : ex);
            if (!_disposed)
            {
                LogLinkFailed(_logger, EndPointName, ex.GetType().Name);
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Anything else (a callback that threw, say) must not end the process from this thread: the link
            // connects again, and the server is verified before it serves.
            if (!_disposed)
            {
                LogLinkFailed(_logger, EndPointName, ex.GetType().Name);
            }
        }
        finally
        {
            var wasUp = Down();
            if (wasUp && !_disposed && !_behind)
            {
                _lost();
            }

            _behind = false;

            Volatile.Write(ref _connection, null);

            // Logged last: a logger that throws leaves nothing above undone.
            if (wasUp && !_disposed)
            {
                LogLinkDown(_logger, EndPointName);
            }
        }

        return backoff;
    }

    /// <summary>
    /// Reads push messages; every second a heartbeat (a PING, or on a cluster <c>CLUSTER INFO</c>) proves that the server
    /// still listens and that this link is not behind its invalidations, or it takes the link down: its answer must come
    /// within the timeout, after whatever the server pushed before it. An answer that came while this thread did not run
    /// (the process paused) is looked for among what waits to be read, for up to another timeout.
    /// </summary>
    private void Listen(RespConnection connection, bool clusterHeartbeat)
    {
        var interval = (long)(PingInterval.TotalSeconds * Stopwatch.Frequency);
        var heartbeatSent = 0L;
        var lastRead = 0L;
        var nextHeartbeat = Stopwatch.GetTimestamp() + interval;
        var drainUntil = 0L;
        while (!_disposed)
        {
            var now = Stopwatch.GetTimestamp();
            if (heartbeatSent != 0 && Stopwatch.GetElapsedTime(heartbeatSent, now) >= _timeout)
            {
                // What arrived while this thread did not run (the process paused) is read first, for up to another
                // timeout: the heartbeat's answer may be among it. (Its copies stay bounded by Vouches meanwhile.)
                drainUntil = drainUntil == 0 ? now + (long)(_timeout.TotalSeconds * Stopwatch.Frequency) : drainUntil;
                if (now < drainUntil && connection.WaitForData(TimeSpan.Zero))
                {
                    ReadOne();
                    continue;
                }

                // A server still sending at the end of the wait is not lost: only this link is behind, and only its
                // copies go. (One that stopped right after a burst the link is still reading passes for one that sends:
                // its restart is caught by its run_id when the link connects again, and its silence by the data path's
                // own timeouts.)
                _behind = lastRead > heartbeatSent && Stopwatch.GetElapsedTime(lastRead, now) < _timeout / 4;
                throw new TimeoutException(_behind
                    ? $"The near cache's link to Redis at {_endPoint} is Rc:OperationTimeout behind its invalidations."
                    : $"Redis at {_endPoint} did not answer a heartbeat within Rc:OperationTimeout.");
            }

            if (heartbeatSent == 0 && now >= nextHeartbeat)
            {
                (clusterHeartbeat ? connection.Command(2).Arg("CLUSTER").Arg("INFO") : connection.Command(1).Arg("PING")).Send(RespConnection.Deadline(_timeout));
                heartbeatSent = now;
            }

            var wait = heartbeatSent != 0
                ? _timeout - Stopwatch.GetElapsedTime(heartbeatSent, now)
                : Stopwatch.GetElapsedTime(now, nextHeartbeat);
            if (connection.WaitForData(wait > TimeSpan.Zero ? wait : TimeSpan.Zero))
            {
                ReadOne();
            }
        }

        void ReadOne()
        {
            var reply = connection.Read(RespConnection.Deadline(_timeout));
            lastRead = Stopwatch.GetTimestamp();
            if (reply.Kind == RespKind.Push)
            {
                Handle(reply);
                return;
            }

            if (clusterHeartbeat)
            {
                CheckClusterState(reply.ThrowIfError());
            }

            Vouch(heartbeatSent);
            heartbeatSent = 0;
            drainUntil = 0;
            nextHeartbeat = Stopwatch.GetTimestamp() + interval;
        }
    }

    /// <summary>Throws unless a <c>CLUSTER INFO</c> reply says the node serves its slots (<c>cluster_state:ok</c>).</summary>
    private void CheckClusterState(RespReply info)
    {
        if (info.AsString() is not { } text || !text.Contains("cluster_state:ok", StringComparison.Ordinal))
        {
            throw new RespErrorException($"CLUSTERDOWN Redis at {_endPoint} is cut off from its cluster (cluster_state is not ok): its copies are not served.");
        }
    }

    /// <summary><c>&gt;invalidate [keys]</c>, or <c>&gt;invalidate null</c> when the server flushed.</summary>
    private void Handle(RespReply push)
    {
        if (push.Items is not [var kind, var keys] || kind.AsString() != "invalidate")
        {
            return;
        }

        if (keys.Items is not { } changed)
        {
            Interlocked.Increment(ref _epoch);
            _invalidated(1);
            return;
        }

        foreach (var key in changed)
        {
            if (key.AsString() is { } name)
            {
                _cache?.Invalidate(name);
            }
        }

        _invalidated(changed.Length);
    }

    /// <summary>The link has read everything the server sent before <paramref name="current"/> (<see cref="Vouches"/>).</summary>
    private void Vouch(long current) =>
        Volatile.Write(ref _vouchedUntil, current + (long)((PingInterval + (3 * _timeout)).TotalSeconds * Stopwatch.Frequency));

    private void Up()
    {
        Vouch(Stopwatch.GetTimestamp());
        Interlocked.Increment(ref _epoch);
        Volatile.Write(ref _up, 1);
        LogLinkUp(_logger, EndPointName);
    }

    private string EndPointName => _endPoint.ToString() ?? "";

    /// <summary>Takes the link down; returns whether it was up.</summary>
    private bool Down()
    {
        // Down first, then the epoch: a reader that sees the old epoch also sees the link down.
        if (Interlocked.Exchange(ref _up, 0) != 1)
        {
            return false;
        }

        Interlocked.Increment(ref _epoch);
        return true;
    }
}
