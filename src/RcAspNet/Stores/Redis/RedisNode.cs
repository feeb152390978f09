using System.Net;
using System.Runtime.CompilerServices;
using StackExchange.Redis;

namespace RcAspNet.Stores.Redis;

/// <summary>
/// One Redis server as a store's operations see it: its telemetry name and endpoint, the circuit that guards it, the
/// removals kept for it, the identity (<c>run_id</c>) it was last verified to have, and the near cache's link to it.
/// It serves calls only while its circuit is closed, and its circuit closes only once nothing is kept for it and its
/// identity is verified.
/// </summary>
internal sealed class RedisNode
{
    private readonly TimeProvider _time;
    private readonly long _window;
    private List<(RedisNode To, long At)>? _gaveSlotsTo;
    private ServerLink? _link;
    private IServer? _server;
    private int _suspicions;
    private int _refusalReported;
    private int _clearsRunning;
    private long _clearEndedAt = long.MinValue; // under Sync

    /// <param name="name">The shard tag: the store's shard name, and for a cluster node its endpoint after a slash.</param>
    /// <param name="endPoint">The server's endpoint; null for a store's first node, which follows the configuration.</param>
    /// <param name="options">The circuit and pending-removal settings.</param>
    /// <param name="prefixes">The namespaces of the store, cleared on the server when its removals pass their bound.</param>
    /// <param name="storeTags">The count of tag invalidations kept by every node of the store.</param>
    /// <param name="time">The clock of the recovery's waits.</param>
    /// <param name="recover">Brings the node back into service: proves it answers, verifies it, delivers what is kept.</param>
    /// <param name="changed">Told when the circuit opens or closes.</param>
    /// <param name="recoveryFailed">Told when a recovery failed, and how long until the next.</param>
    /// <param name="stopping">Stops the recovery when the store is disposed.</param>
    public RedisNode(string name, EndPoint? endPoint, RcOptions options, string[] prefixes, StrongBox<int> storeTags, TimeProvider time, Func<RedisNode, Task> recover, Action<RedisNode, CircuitState> changed, Action<RedisNode, Exception, TimeSpan> recoveryFailed, CancellationToken stopping)
    {
        Name = name;
        EndPoint = endPoint;
        _time = time;
        _window = TimestampSpan.Of(options.RemovalReplayWindow, time);
        Removals = new RemovalLog(options.PendingRemovalLimit, prefixes, storeTags);
        Circuit = new CircuitBreaker(
            options.CircuitBreakerThreshold,
            options.CircuitBreakDuration,
            time,
            Sync,
            () => recover(this),
            () => Removals.IsEmpty && !Unverified,
            state =>
            {
                if (state == CircuitState.Closed)
                {
                    // The server accepts this node again: a later refusal is news.
                    Volatile.Write(ref _refusalReported, 0);
                }

                changed(this, state);
            },
            (ex, wait) => recoveryFailed(this, ex, wait),
            stopping);
    }

    public string Name { get; }

    public EndPoint? EndPoint { get; }

    /// <summary>Gets the lock under which the circuit's transitions, the removal log and the identity change together.</summary>
    public Lock Sync { get; } = new();

    public CircuitBreaker Circuit { get; }

    /// <summary>Gets the removals kept for this server (read and changed under <see cref="Sync"/>).</summary>
    public RemovalLog Removals { get; }

    /// <summary>Gets the <c>run_id</c> the server had when it was last verified; null before it ever was.</summary>
    public string? RunId { get; private set; }

    /// <summary>Gets whether the server must prove it is the one it was before it serves again (under <see cref="Sync"/>).</summary>
    public bool Unverified { get; private set; }

    /// <summary>Gets whether recent removals must be delivered to the server again whatever its identity (it took over slots another server served).</summary>
    public bool MustReplay { get; private set; }

    /// <summary>Gets when the server was first suspected since it was last verified (a timestamp of the store's clock; under <see cref="Sync"/>).</summary>
    public long SuspectedAt { get; private set; } = long.MaxValue;

    /// <summary>Gets how often the node was suspected, so that an identity read before a suspicion is not trusted after it.</summary>
    public int Suspicions => Volatile.Read(ref _suspicions);

    /// <summary>Gets the near cache's invalidation link to this server, once one was made.</summary>
    public ServerLink? Link => Volatile.Read(ref _link);

    /// <summary>
    /// The server behind a cluster primary's node, for the reads it must answer itself; null for a store's first node,
    /// and while the client does not know the server yet (kept once it does).
    /// </summary>
    public IServer? ServerIn(IConnectionMultiplexer connection)
    {
        if (Volatile.Read(ref _server) is { } known)
        {
            return known;
        }

        if (EndPoint is null)
        {
            return null;
        }

        IServer server;
        try
        {
            server = connection.GetServer(EndPoint);
        }
        catch (ArgumentException)
        {
            return null;
        }

        Volatile.Write(ref _server, server);
        return server;
    }

    /// <summary>
    /// Returns true for the first refusal of this node's credentials or of the server's certificate since the server
    /// last served (its circuit closed), so that it is reported once, not once per call or recovery.
    /// </summary>
    public bool FirstRefusal() => Interlocked.Exchange(ref _refusalReported, 1) == 0;

    /// <summary>
    /// Gets when a clear of the server's namespaces was last held for it (the time of its clock): kept, or leaving what
    /// is kept, delivered or moved. Read and set under <see cref="Sync"/>.
    /// </summary>
    public long ClearHeldAt { get; private set; } = long.MinValue;

    /// <summary>Records, under <see cref="Sync"/>, that a clear leaves what is kept for the server: it was held until now.</summary>
    public void ClearGone() => ClearHeldAt = _time.GetTimestamp();

    /// <summary>
    /// A clear of the server's namespaces begins on it: until it ends (<see cref="ClearEnded"/>), a slot it hands over
    /// may carry keys its scan has not reached yet, so the clear counts as held (<see cref="HeldClearSince"/>).
    /// </summary>
    public void ClearStarted() => Interlocked.Increment(ref _clearsRunning);

    /// <summary>
    /// A clear of the server's namespaces ended on it. While a slot migrated (<paramref name="migrating"/>), a key of it
    /// may have left before the scan came to it and reached the other primary after that one's scan ended: the clear
    /// then counts as held, as one kept and delivered does. Either way it counts for a handover this node learns of
    /// within <c>Rc:RemovalReplayWindow</c> after it: a slot that moved while it ran, and was handed over before it
    /// ended, may be learned of only later (by a redirection, or the client's next reading of the cluster).
    /// </summary>
    public void ClearEnded(bool migrating)
    {
        lock (Sync)
        {
            if (migrating)
            {
                ClearGone();
            }

            _clearEndedAt = _time.GetTimestamp();
        }

        Interlocked.Decrement(ref _clearsRunning);
    }

    /// <summary>
    /// Returns whether a clear of the server's namespaces is kept for it (or being delivered), or was held while a slot
    /// whose owner last changed at <paramref name="changedAt"/> may have had keys moving away: since then, or within
    /// <c>Rc:RemovalReplayWindow</c>, whichever is longer (a reshard moves a slot's keys before it hands the slot over,
    /// for as long as that takes).
    /// </summary>
    public bool HeldClearSince(long changedAt)
    {
        lock (Sync)
        {
            var windowStart = _time.GetTimestamp() - _window;
            return Removals.AnyClear is not null || Volatile.Read(ref _clearsRunning) > 0 || _clearEndedAt >= windowStart || ClearHeldAt >= Math.Min(changedAt, windowStart);
        }
    }

    /// <summary>
    /// Keeps a removal the server did not acknowledge (<paramref name="unsent"/>: was never sent) and holds the server out
    /// of service; returns whether the log passed its bound. When this makes a clear kept for the server where none was,
    /// <paramref name="handedOn"/> names the primaries that took slots from it within <c>Rc:RemovalReplayWindow</c>: the
    /// keys folded into it may have moved there, so it is kept for them too.
    /// </summary>
    public bool Keep(Removal removal, bool unsent, out IReadOnlyList<RedisNode> handedOn)
    {
        handedOn = [];
        lock (Sync)
        {
            var pending = Removals.Clear is not null;
            var overflowed = Removals.Add(removal, unsent);
            if (overflowed || removal.Kind == RemovalKind.Clear)
            {
                var now = _time.GetTimestamp();
                ClearHeldAt = now;
                if (!pending && _gaveSlotsTo is not null)
                {
                    handedOn = [.. TookSlotsLately(now).Select(static h => h.To)];
                }
            }

            Circuit.Hold();
            return overflowed;
        }
    }

    /// <summary>Records that <paramref name="to"/> took over slots this primary served: a clear kept for this one within the window is kept for it too.</summary>
    public void GaveSlotsTo(RedisNode to)
    {
        lock (Sync)
        {
            var now = _time.GetTimestamp();
            _gaveSlotsTo ??= [];
            TookSlotsLately(now).RemoveAll(h => h.To == to);
            _gaveSlotsTo.Add((to, now));
        }
    }

    /// <summary>The primaries that took slots from this one within the window (each once: the latest time), under <see cref="Sync"/>.</summary>
    private List<(RedisNode To, long At)> TookSlotsLately(long now)
    {
        var lately = _gaveSlotsTo!;
        lately.RemoveAll(h => h.At < now - _window);
        return lately;
    }

    /// <summary>
    /// The server may not be the one it was (its connection was lost, or it took over slots of a cluster): it serves no
    /// call until its identity is read again and, if it changed (or <paramref name="replay"/>: it serves keys another
    /// server served), recent removals are delivered to it again, reaching back to when it was lost, or to
    /// <paramref name="since"/> if earlier (when the server whose keys it took over was lost).
    /// </summary>
    public void Suspect(bool replay = false, long since = long.MaxValue)
    {
        lock (Sync)
        {
            Interlocked.Increment(ref _suspicions);
            var at = Math.Min(_time.GetTimestamp(), since);
            SuspectedAt = Unverified ? Math.Min(SuspectedAt, at) : at;
            Unverified = true;
            MustReplay |= replay;
            Circuit.Hold();
        }
    }

    /// <summary>Records the server's identity, read after <paramref name="suspicions"/> suspicions; ignored when it was suspected again since.</summary>
    public void Identify(string runId, int suspicions)
    {
        lock (Sync)
        {
            if (suspicions == _suspicions)
            {
                RunId = runId;
                Unverified = false;
                MustReplay = false;
                SuspectedAt = long.MaxValue;
            }
        }
    }

    /// <summary>
    /// The server's link read its <c>run_id</c>: the first one known is remembered, and another one than the node was
    /// verified with means the server restarted (or another took its address) and may lack removals it acknowledged.
    /// </summary>
    public void Identified(string runId)
    {
        lock (Sync)
        {
            if (Unverified)
            {
                // Its recovery reads the identity again and compares it.
                return;
            }

            if (RunId is null)
            {
                RunId = runId;
            }
            else if (RunId != runId)
            {
                Suspect();
            }
        }
    }

    /// <summary>Makes the link with <paramref name="create"/> the first time; returns the node's link.</summary>
    public ServerLink LinkOrCreate(Func<ServerLink> create)
    {
        if (Volatile.Read(ref _link) is { } link)
        {
            return link;
        }

        var made = create();
        if (Interlocked.CompareExchange(ref _link, made, null) is { } other)
        {
            made.Dispose();
            return other;
        }

        return made;
    }
}
