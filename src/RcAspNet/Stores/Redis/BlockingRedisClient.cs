using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace RcAspNet.Stores.Redis;

/// <summary>
/// How the synchronous members reach one Redis server or one Redis Cluster: a few idle <see cref="RespConnection"/>s
/// per server, each used by one caller at a time on the caller's own thread, so that a synchronous call never waits
/// on the thread pool. Against a cluster each key goes to the primary of its hash slot, learned from
/// <c>CLUSTER SLOTS</c> after the first <c>MOVED</c> reply, and kept up to date by later <c>MOVED</c> and <c>ASK</c> replies.
/// </summary>
internal sealed class BlockingRedisClient : IDisposable
{
    private const int MaximumRedirects = 5;

    private readonly RespSettings _settings;
    private readonly EndPoint[] _seeds;
    private readonly int _maximumIdle;
    private readonly ConcurrentDictionary<EndPoint, ConcurrentQueue<RespConnection>> _idle = new();
    private int _seed;
    private EndPoint?[]? _slots;
    private long _slotsRefreshed;
    private bool _disposed;

    public BlockingRedisClient(IEnumerable<EndPoint> seeds, RespSettings settings, int maximumIdle = 16)
    {
        _seeds = [.. seeds];
        if (_seeds.Length == 0)
        {
            throw new ArgumentException("A Redis configuration must name at least one endpoint.", nameof(seeds));
        }

        _settings = settings;
        _maximumIdle = maximumIdle;
    }

    /// <summary>Gets whether a <c>MOVED</c> reply has shown the server to be a Redis Cluster.</summary>
    public bool IsCluster => Volatile.Read(ref _slots) is not null;

    public byte[]? Get(string key, long deadline) =>
        Run(key, key, deadline, static (c, k, d) => c.Command(2).Arg("GET").Arg(k).CallForBulk(d));

    /// <summary>
    /// <c>GET</c> answered by the server at <paramref name="endPoint"/> itself, a cluster primary whose circuit the caller
    /// checked (as <see cref="RedisCommands.GetOnAsync"/>), after <c>ASKING</c> when <paramref name="asking"/> (a
    /// redirection <c>ASK</c> named it): not redirected further, and not sent to another seed. A redirection is thrown
    /// as <see cref="RedirectedReadException"/>.
    /// </summary>
    public byte[]? GetOn(EndPoint endPoint, string key, long deadline, bool asking = false)
    {
        try
        {
            return RunAt(endPoint, (Key: key, Asking: asking), deadline, static (c, s, d) =>
            {
                if (s.Asking)
                {
                    c.Command(1).Arg("ASKING").SendWithoutReply(d);
                }

                return c.Command(2).Arg("GET").Arg(s.Key).CallForBulk(d);
            }, otherSeeds: false);
        }
        catch (RespErrorException ex) when (RedirectedReadException.Of(ex.Message, ex) is { } redirection)
        {
            throw redirection;
        }
    }

    /// <summary>
    /// <c>GET</c> and <c>PTTL</c> in one round trip: the value, and how long it lives (negative: no TTL or no key). Not for
    /// a key a cluster may redirect: <c>ASKING</c> would precede the GET alone (the near cache on a cluster uses
    /// <see cref="GetWithTimeToLiveOn"/>).
    /// </summary>
    public (byte[]? Value, long TimeToLiveMs) GetWithTimeToLive(string key, long deadline) =>
        Run(key, key, deadline, static (c, k, d) =>
        {
            var (value, ttl) = SendGetWithTimeToLive(c, k, d);
            return ValueAndTimeToLive(value, ttl);
        });

    /// <summary>
    /// <c>GET</c> and <c>PTTL</c> in one round trip to the server at <paramref name="endPoint"/> itself, for the near
    /// cache on a cluster: not redirected, and not sent to another seed when that server cannot be reached, so that a
    /// reply is that server's own. A redirection (<c>MOVED</c>, <c>ASK</c>) is thrown as <see cref="RedirectedReadException"/>.
    /// </summary>
    public (byte[]? Value, long TimeToLiveMs) GetWithTimeToLiveOn(EndPoint endPoint, string key, long deadline) =>
        RunAt(endPoint, key, deadline, static (c, k, d) =>
        {
            var (value, ttl) = SendGetWithTimeToLive(c, k, d);
            if (RedirectedReadException.IsRedirection(value) || RedirectedReadException.IsRedirection(ttl))
            {
                var text = (RedirectedReadException.IsRedirection(value) ? value : ttl).Text!;
                throw RedirectedReadException.Of(text, new RespErrorException(text))!;
            }

            return ValueAndTimeToLive(value, ttl);
        }, otherSeeds: false);

    /// <summary><c>SET key value PX ttl</c>.</summary>
    public void Set(string key, byte[] value, long timeToLiveMs, long deadline) =>
        Run(key, (key, value, timeToLiveMs), deadline, static (c, s, d) =>
            c.Command(5).Arg("SET").Arg(s.key).Arg(s.value).Arg("PX").Arg(s.timeToLiveMs).Call(d).ThrowIfError());

    /// <summary>Revokes the key's fill lease and deletes the key in one step (<see cref="RedisCommands.DeleteWithLeasesAsync"/>); returns whether the key existed.</summary>
    public bool Delete(string key, long deadline) =>
        Run(key, key, deadline, static (c, k, d) => (FillLease.KeyOf(k) is { } lease
            ? c.Command(5).Arg("EVAL").Arg(RedisCommands.DeleteWithLeaseScript).Arg(2).Arg(k).Arg(lease)
            : c.Command(2).Arg("DEL").Arg(k)).Call(d).ThrowIfError().Integer > 0);

    /// <summary>The <c>run_id</c> of the server at <paramref name="endPoint"/> (null: the first server configured), from <c>INFO server</c>.</summary>
    public string RunId(EndPoint? endPoint, long deadline) =>
        RunAt(endPoint, 0, deadline, static (c, _, d) => RunIdOf(c.Command(2).Arg("INFO").Arg("server").Call(d).ThrowIfError().AsString()));

    /// <summary>
    /// Whether the cluster node at <paramref name="endPoint"/> says of itself, in <c>CLUSTER NODES</c>, that a slot
    /// migrates from it or to it (<c>[slot-&gt;-id]</c>, <c>[slot-&lt;-id]</c>: a node tells its own alone).
    /// </summary>
    public bool Migrating(EndPoint endPoint, long deadline) =>
        RunAt(endPoint, 0, deadline, static (c, _, d) => c.Command(2).Arg("CLUSTER").Arg("NODES").Call(d).ThrowIfError().AsString()?.Split('\n')
            .FirstOrDefault(static l => l.Split(' ') is [_, _, var flags, ..] && flags.Split(',').Contains("myself")) is not { } myself
            || myself.Contains("->-", StringComparison.Ordinal) || myself.Contains("-<-", StringComparison.Ordinal), otherSeeds: false);

    /// <summary>The <c>run_id</c> line of <c>INFO server</c>.</summary>
    public static string RunIdOf(string? info) =>
        info?.Split('\n').Select(static l => l.Trim()).FirstOrDefault(static l => l.StartsWith("run_id:", StringComparison.Ordinal))?["run_id:".Length..]
            ?? throw new RespProtocolException("INFO server did not report a run_id.");

    /// <summary><see cref="RedisCommands.RenewScript"/>: renews the entry if it still begins with <paramref name="header"/>.</summary>
    public bool Renew(string key, ReadOnlyMemory<byte> header, long timeToLiveMs, long deadline) =>
        Run(key, (key, header, timeToLiveMs), deadline, static (c, s, d) =>
            c.Command(6).Arg("EVAL").Arg(RedisCommands.RenewScript).Arg(1).Arg(s.key).Arg(s.header.Span).Arg(s.timeToLiveMs).Call(d).ThrowIfError().Integer > 0);

    public void Dispose()
    {
        _disposed = true;
        foreach (var queue in _idle.Values)
        {
            while (queue.TryDequeue(out var connection))
            {
                connection.Dispose();
            }
        }
    }

    /// <summary>Runs a command on one server, not routed by a key; on another seed when that seed cannot be reached, unless not <paramref name="otherSeeds"/>.</summary>
    private T RunAt<TState, T>(EndPoint? endPoint, TState state, long deadline, Func<RespConnection, TState, long, T> command, bool otherSeeds = true)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        using var held = SignalMask.HoldSignals();
        var target = endPoint ?? _seeds[Volatile.Read(ref _seed)];
        var connection = Rent(ref target, deadline, otherSeeds);
        try
        {
            var result = command(connection, state, deadline);
            Return(connection);
            return result;
        }
        catch
        {
            Return(connection);
            throw;
        }
    }

    private T Run<TState, T>(string key, TState state, long deadline, Func<RespConnection, TState, long, T> command)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        using var held = SignalMask.HoldSignals();
        var endPoint = EndPointOf(key, deadline);
        var asking = false;
        for (var redirects = 0; ; redirects++)
        {
            var connection = Rent(ref endPoint, deadline);
            try
            {
                if (asking)
                {
                    connection.Command(1).Arg("ASKING").SendWithoutReply(deadline);
                }

                var result = command(connection, state, deadline);
                Return(connection);
                return result;
            }
            catch (RespErrorException ex) when (redirects < MaximumRedirects && Redirect(ex.Message, key, out var target, out asking))
            {
                Return(connection);
                endPoint = target;
            }
            catch
            {
                Return(connection);
                throw;
            }
        }
    }

    /// <summary>Follows <c>MOVED slot host:port</c> (learning the slot's new owner) and <c>ASK slot host:port</c> (for this call only).</summary>
    private bool Redirect(string error, string key, out EndPoint target, out bool asking)
    {
        target = null!;
        asking = error.StartsWith("ASK ", StringComparison.Ordinal);
        if (!asking && !error.StartsWith("MOVED ", StringComparison.Ordinal))
        {
            return false;
        }

        var parts = error.Split(' ');
        if (parts.Length < 3 || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var slot) || ParseEndPoint(parts[2], null) is not { } endPoint)
        {
            return false;
        }

        target = endPoint;
        if (!asking)
        {
            var slots = Volatile.Read(ref _slots);
            if (slots is null)
            {
                Interlocked.CompareExchange(ref _slots, new EndPoint?[HashSlot.Count], null);
                slots = _slots!;
            }

            slots[slot] = endPoint;

            // Slots move together: learn the whole map again at the next call.
            Volatile.Write(ref _slotsRefreshed, 0);
        }

        return true;
    }

    private EndPoint EndPointOf(string key, long deadline)
    {
        var slots = Volatile.Read(ref _slots);
        if (slots is null)
        {
            return _seeds[Volatile.Read(ref _seed)];
        }

        if (Volatile.Read(ref _slotsRefreshed) == 0)
        {
            TryRefreshSlots(slots, deadline);
        }

        return slots[HashSlot.Of(key)] ?? _seeds[Volatile.Read(ref _seed)];
    }

    /// <summary>Reads <c>CLUSTER SLOTS</c> from a known node into <paramref name="slots"/>; on failure the map stays as it was.</summary>
    private void TryRefreshSlots(EndPoint?[] slots, long deadline)
    {
        // One caller refreshes; the others route by the map as it is.
        if (Interlocked.CompareExchange(ref _slotsRefreshed, Stopwatch.GetTimestamp(), 0) != 0)
        {
            return;
        }

        var endPoint = _seeds[Volatile.Read(ref _seed)];
        RespConnection? connection = null;
        try
        {
            connection = Rent(ref endPoint, deadline);
            var reply = connection.Command(2).Arg("CLUSTER").Arg("SLOTS").Call(deadline).ThrowIfError();
            foreach (var range in reply.Items ?? [])
            {
                if (range.Items is not [var start, var end, { Items: [var host, var port, ..] }, ..])
                {
                    continue;
                }

                var address = host.AsString();
                var owner = ParseEndPoint(
                    string.IsNullOrEmpty(address) || address == "?" ? HostOf(endPoint) : address,
                    port.Integer.ToString(CultureInfo.InvariantCulture));
                for (var slot = start.Integer; slot <= end.Integer && slot < HashSlot.Count; slot++)
                {
                    slots[slot] = owner;
                }
            }

            Return(connection);
        }
        catch (Exception ex) when (ex is RespErrorException or IOException or SocketException or TimeoutException)
        {
            // Routing falls back on what MOVED replies taught; the call itself decides whether it failed.
            if (connection is not null)
            {
                Return(connection);
            }
        }
    }

    /// <summary>Takes an idle connection to <paramref name="endPoint"/> or opens one; when a seed cannot be reached, tries the next seed (if <paramref name="otherSeeds"/>).</summary>
    private RespConnection Rent(ref EndPoint endPoint, long deadline, bool otherSeeds = true)
    {
        var queue = _idle.GetOrAdd(endPoint, static _ => new ConcurrentQueue<RespConnection>());
        while (queue.TryDequeue(out var idle))
        {
            if (idle.IsHealthy)
            {
                return idle;
            }

            idle.Dispose();
        }

        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return RespConnection.Open(endPoint, _settings, deadline);
            }
            catch (Exception ex) when (ex is SocketException or IOException or ConnectTimeoutException && otherSeeds && attempt + 1 < _seeds.Length && Array.IndexOf(_seeds, endPoint) is var index and >= 0)
            {
                var next = (index + 1) % _seeds.Length;
                Volatile.Write(ref _seed, next);
                endPoint = _seeds[next];
            }
        }
    }

    private void Return(RespConnection connection)
    {
        if (!connection.IsHealthy || _disposed)
        {
            connection.Dispose();
            return;
        }

        var queue = _idle.GetOrAdd(connection.EndPoint, static _ => new ConcurrentQueue<RespConnection>());
        if (queue.Count >= _maximumIdle)
        {
            connection.Dispose();
            return;
        }

        queue.Enqueue(connection);
    }

    /// <summary>Sends <c>GET</c> and <c>PTTL</c> and reads both replies, errors included: a failed GET leaves no reply unread for the connection's next user.</summary>
    private static (RespReply Value, RespReply TimeToLive) SendGetWithTimeToLive(RespConnection connection, string key, long deadline)
    {
        connection.Command(2).Arg("GET").Arg(key).Send(deadline);
        connection.Command(2).Arg("PTTL").Arg(key).Send(deadline);
        var value = connection.Read(deadline);
        return (value, connection.Read(deadline));
    }

    /// <summary>The value and TTL that <c>GET</c> and <c>PTTL</c> answered; the first error is thrown.</summary>
    private static (byte[]? Value, long TimeToLiveMs) ValueAndTimeToLive(RespReply value, RespReply timeToLive) =>
        (value.ThrowIfError().Kind switch
        {
            RespKind.Bulk => value.BulkValue,
            RespKind.Null => null,
            _ => throw new RespProtocolException($"Expected a bulk string, got {value.Kind}."),
        }, timeToLive.ThrowIfError().Integer);

    private static string HostOf(EndPoint endPoint) => endPoint switch
    {
        DnsEndPoint dns => dns.Host,
        IPEndPoint ip => ip.Address.ToString(),
        _ => "127.0.0.1",
    };

    /// <summary>Parses <c>host:port</c> (the port last, so IPv6 addresses work), or a host and a separate port.</summary>
    internal static EndPoint? ParseEndPoint(string host, string? port)
    {
        if (port is null)
        {
            var colon = host.LastIndexOf(':');
            if (colon <= 0)
            {
                return null;
            }

            port = host[(colon + 1)..];
            host = host[..colon].Trim('[', ']');
        }

        if (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var number) || number is <= 0 or > 65535)
        {
            return null;
        }

        return IPAddress.TryParse(host, out var address) ? new IPEndPoint(address, number) : new DnsEndPoint(host, number);
    }
}
