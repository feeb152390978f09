using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Security.Authentication;
using Microsoft.Extensions.Logging;
using RcAspNet.Diagnostics;
using StackExchange.Redis;

namespace RcAspNet.Stores.Redis;

/// <summary>
/// How a store's commands reach a server, and what a failure does: a call goes only through a closed circuit and a
/// request's failure budget, is bounded by the operation timeout (a deadline that a thread of the library's own fires,
/// so a starved thread pool cannot postpone it), and honours the caller's token. A failure is classified
/// (<see cref="FailureKind"/>), counted against the circuit and in telemetry, and degraded to a fallback or thrown, as
/// <see cref="RcFailureMode"/> says. A removal, or a write that would replace a value, that fails or is skipped is
/// never dropped: it is kept for its server (<see cref="RedisNode.Keep"/>), which serves nothing of this node until it
/// is delivered.
/// </summary>
internal sealed partial class RedisCalls(RedisTopology topology, BlockingRedisClient blocking, string kind, RcOptions options, RcMetrics metrics, ILogger logger)
{
    private readonly Deadlines _deadlines = new(options.OperationTimeout);
    private readonly TimeSpan _timeout = options.OperationTimeout;

    /// <summary>Told when a kept removal made a node's log pass its bound (its namespaces are then cleared).</summary>
    public Action<RedisNode>? Overflowed { get; set; }

    /// <summary>The telemetry name of a failure kind (<c>error.type</c>).</summary>
    public static string TagOf(FailureKind failure) => failure switch
    {
        FailureKind.Timeout => "timeout",
        FailureKind.Connection => "connection",
        FailureKind.Server => "server",
        FailureKind.Authentication => "authentication",
        FailureKind.Skipped => "circuit_open",
        _ => "foreign_data",
    };

    /// <summary>
    /// Runs one command (or one pipelined group) against <paramref name="node"/>. On failure it returns
    /// <paramref name="fallback"/> (Degrade) or throws <see cref="RcCacheException"/> (Throw); a read of a key that holds
    /// another Redis type is a miss when <paramref name="wrongTypeIsMiss"/>. When the command does not reach the server
    /// and <paramref name="keepOnFailure"/> is given, the removal it returns is kept: a write that failed may have left
    /// the value it was to replace. <paramref name="settled"/>, if given, runs last, however the call ended: a store's
    /// write is one state machine, not a method of its own around this one. An exception that is no failure of the
    /// server (<see cref="RedirectedReadException"/>: a cluster server redirected a read sent to it) goes through uncounted.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<T> RunAsync<TState, T>(
        RedisNode node,
        string operation,
        TState state,
        Func<IDatabase, TState, Task<T>> command,
        T fallback,
        CancellationToken cancellationToken,
        bool wrongTypeIsMiss = false,
        Func<TState, Removal>? keepOnFailure = null,
        Action<TState>? settled = null)
    {
        try
        {
            if (cancellationToken.IsCancellationRequested)
            {
                // Not sent: a write that replaces a value leaves the value it was to replace, as one cancelled in flight may.
                Keep(node, keepOnFailure?.Invoke(state), unsent: true);
                cancellationToken.ThrowIfCancellationRequested();
            }

            if (!node.Circuit.TryEnter() || FailureBudget.HasFailed(node))
            {
                Keep(node, keepOnFailure?.Invoke(state));
                return Degrade(node, operation, fallback, FailureKind.Skipped, null);
            }

            // What SendAsync does, inline: the hot path's await chain is one state machine shorter.
            var started = Stopwatch.GetTimestamp();
            using var activity = RcMetrics.StartActivity(kind, node.Name, operation);
            var database = topology.Database;
            Task<T>? task = null;
            FailureKind failure;
            Exception error;
            try
            {
                task = Issue(database, state, command, cancellationToken);
                var result = await Bounded(task, cancellationToken).ConfigureAwait(false);
                Succeeded(node, operation, started);
                return result;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // The caller gave up: the write may or may not have happened.
                Observe(task);
                Keep(node, keepOnFailure?.Invoke(state));
                throw;
            }
            catch (Exception ex) when (IsFailure(ex))
            {
                failure = Failed(node, operation, ex, activity, database, task);
                error = ex;
            }

            if (keepOnFailure?.Invoke(state) is { } removal)
            {
                await RemoveNowOrKeepAsync(node, removal, failure).ConfigureAwait(false);
            }

            return failure == FailureKind.ForeignData && wrongTypeIsMiss ? fallback : Degrade(node, operation, fallback, failure, error);
        }
        finally
        {
            settled?.Invoke(state);
        }
    }

    /// <summary>
    /// Reads <paramref name="key"/> with one GET, or by joining the GET of it in flight (<see cref="SharedGets"/>): the
    /// steps of <see cref="RunAsync"/> (circuit, failure budget, timeout, a failure degraded to a miss), with the sharing
    /// around them, in one state machine, as the hot path of every read. A reply that several readers share is copied
    /// for each: the caller of <c>IDistributedCache.Get</c> may change the array it gets.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<byte[]?> GetAsync(RedisNode node, SharedGets gets, string key, CancellationToken cancellationToken)
    {
        const string operation = "get";
        cancellationToken.ThrowIfCancellationRequested();
        if (!node.Circuit.TryEnter() || FailureBudget.HasFailed(node))
        {
            return Degrade<byte[]?>(node, operation, null, FailureKind.Skipped, null);
        }

        var slot = SharedGets.SlotOf(key);
        var joined = gets.TryJoin(key, slot);
        var database = topology.Database;
        var started = Stopwatch.GetTimestamp();
        using var activity = RcMetrics.StartActivity(kind, node.Name, operation);
        Task<RedisValue>? task = null;
        var ticket = -1L;
        RedisValue value;
        bool shared;
        RedirectedReadException? redirection = null;
        try
        {
            // A slot is taken only once connected: the GET is then sent at once, so before it is sealed. Inside the
            // try, so that whatever happens next, the slot is sealed.
            ticket = joined is null && database is not null ? gets.Take(key, slot) : -1;
            task = joined ?? Issue(database, (Gets: gets, Node: node, Key: key, Slot: slot, Ticket: ticket), static (db, s) => s.Gets.Send(db, s.Key, s.Slot, s.Ticket, s.Node), cancellationToken);
            value = await Bounded(task, cancellationToken).ConfigureAwait(false);
            Succeeded(node, operation, started);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Observe(task);
            throw;
        }
        catch (RedirectedReadException ex)
        {
            // The server answered, but not with the key: its slot moved, or migrates.
            redirection = ex;
            value = default;
        }
        catch (Exception ex) when (IsFailure(ex))
        {
            var failure = Failed(node, operation, ex, activity, database, task);
            return failure == FailureKind.ForeignData ? null : Degrade<byte[]?>(node, operation, null, failure, ex);
        }
        finally
        {
            shared = gets.Seal(slot, ticket);
        }

        if (redirection is not null)
        {
            return await FollowAsync(key, redirection, cancellationToken).ConfigureAwait(false);
        }

        return joined is not null || shared ? Copy(value) : value;
    }

    /// <summary>
    /// Follows a redirection of a cluster GET (<see cref="RedisCommands.GetAsync(IDatabase, RedisNode?, string)"/>), once,
    /// to the node <see cref="RedisTopology.FollowedTo"/> allows: a <c>MOVED</c> first teaches the slot map the slot's new owner, so
    /// that a primary that took over slots is held for verification before anything of it is served; the key is then
    /// read from that server, through its own circuit, and answered by it (after <c>ASKING</c> for an <c>ASK</c>). A
    /// redirection that names no server or no node to follow, a held server, and a second redirection are misses.
    /// </summary>
    public async ValueTask<byte[]?> FollowAsync(string key, RedirectedReadException redirection, CancellationToken cancellationToken)
    {
        if (redirection.Target is not { } target || topology.FollowedTo(key, redirection.Slot, target, redirection.Asking) is not { } owner)
        {
            return null;
        }

        try
        {
            var value = await RunAsync(
                owner,
                "get",
                (Owner: owner, Key: key, redirection.Asking),
                static (db, s) => s.Asking ? RedisCommands.GetAskingAsync(s.Owner.ServerIn(db.Multiplexer), s.Key) : RedisCommands.GetAsync(db, s.Owner, s.Key),
                RedisValue.Null,
                cancellationToken,
                wrongTypeIsMiss: true).ConfigureAwait(false);
            return (byte[]?)value;
        }
        catch (RedirectedReadException)
        {
            return null;
        }
    }

    /// <summary>Runs one command on the caller's thread, with the same circuit, timeout and failure handling as <see cref="RunAsync"/>.</summary>
    public T Run<TState, T>(RedisNode node, string operation, TState state, Func<BlockingRedisClient, TState, long, T> command, T fallback, bool wrongTypeIsMiss = false, Func<TState, Removal>? keepOnFailure = null)
    {
        if (!node.Circuit.TryEnter() || FailureBudget.HasFailed(node))
        {
            Keep(node, keepOnFailure?.Invoke(state));
            return Degrade(node, operation, fallback, FailureKind.Skipped, null);
        }

        var started = Stopwatch.GetTimestamp();
        using var activity = RcMetrics.StartActivity(kind, node.Name, operation);
        try
        {
            var result = command(blocking, state, started + (long)(_timeout.TotalSeconds * Stopwatch.Frequency));
            node.Circuit.OnSuccess();
            metrics.Duration(kind, node.Name, operation, started);
            return result;
        }
        catch (Exception ex) when (IsFailure(ex))
        {
            var failure = Classify(node, operation, ex, activity, connecting: false, synchronous: true);
            if (keepOnFailure?.Invoke(state) is { } removal)
            {
                RemoveNowOrKeep(node, removal, failure);
            }

            return failure == FailureKind.ForeignData && wrongTypeIsMiss ? fallback : Degrade(node, operation, fallback, failure, ex);
        }
    }

    /// <summary>
    /// Runs a removal against <paramref name="node"/>; when it fails or is skipped, it is kept for the server and
    /// reported pending (Degrade) or thrown (Throw), never dropped. A cancelled token ends the caller's wait, not the
    /// removal: the store runs a removal whose caller gave up before it began without the caller, and one cancelled
    /// between its steps is kept here for the server's recovery to finish; the caller gets its
    /// <see cref="OperationCanceledException"/>.
    /// </summary>
    /// <returns>Whether the server answered, with its answer; else what was kept.</returns>
    public async ValueTask<(bool Delivered, T Answer, RcRemovalResult Kept)> RemoveAsync<TState, T>(RedisNode node, string operation, Removal removal, TState state, Func<IDatabase, TState, Task<T>> command, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            Keep(node, removal);
            cancellationToken.ThrowIfCancellationRequested();
        }

        if (!node.Circuit.TryEnter() || FailureBudget.HasFailed(node))
        {
            return (false, default!, Kept(node, operation, removal, FailureKind.Skipped, null));
        }

        try
        {
            return (true, await SendAsync(node, operation, state, command, cancellationToken).ConfigureAwait(false), default);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Keep(node, removal);
            throw;
        }
        catch (CallFailedException failed)
        {
            return (false, default!, Kept(node, operation, removal, failed.Kind, failed.InnerException));
        }
    }

    /// <summary>Deletes one key on the caller's thread, as <see cref="RemoveAsync"/> does.</summary>
    public RcRemovalResult Remove(RedisNode node, string key)
    {
        const string operation = "delete";
        if (!node.Circuit.TryEnter() || FailureBudget.HasFailed(node))
        {
            return Kept(node, operation, Removal.OfKey(key), FailureKind.Skipped, null);
        }

        var started = Stopwatch.GetTimestamp();
        using var activity = RcMetrics.StartActivity(kind, node.Name, operation);
        try
        {
            var removed = blocking.Delete(key, started + (long)(_timeout.TotalSeconds * Stopwatch.Frequency));
            node.Circuit.OnSuccess();
            metrics.Duration(kind, node.Name, operation, started);
            return new(removed ? 1 : 0, 0);
        }
        catch (Exception ex) when (IsFailure(ex))
        {
            return Kept(node, operation, Removal.OfKey(key), Classify(node, operation, ex, activity, connecting: false, synchronous: true), ex);
        }
    }

    /// <summary>
    /// Sends a command of a recovery to a server whose circuit is open, bounded by the operation timeout; a failure is
    /// thrown, to keep the circuit open.
    /// </summary>
    public async Task<T> DeliverAsync<T>(RedisNode node, string operation, Func<IDatabase, Task<T>> command)
    {
        var started = Stopwatch.GetTimestamp();
        using var activity = RcMetrics.StartActivity(kind, node.Name, operation);
        Task<T>? task = null;
        try
        {
            // Inside the try: a command that finds no connected server to go to throws before it is sent.
            var database = await topology.GetDatabaseAsync(CancellationToken.None).ConfigureAwait(false);
            task = command(database);
            var result = await task.WaitAsync(_deadlines.Next()).ConfigureAwait(false);
            metrics.Duration(kind, node.Name, operation, started);
            return result;
        }
        catch (Exception ex) when (IsFailure(ex))
        {
            Observe(task);

            // A server that refuses this node's credentials may fail a recovery before any command reaches it (the
            // client has no connected server to send to): its link says why.
            var refused = Refusal(ex) is not null ? ex : node.Link?.Refusal;
            if (refused is not null)
            {
                Report(node, refused);
            }

            activity?.SetStatus(ActivityStatusCode.Error, ex is OperationCanceledException or TimeoutException ? "timeout" : refused is not null ? "authentication" : "connection");
            throw;
        }
    }

    /// <summary>
    /// Sends a command of a recovery through the library's own blocking client (commands the application's multiplexer
    /// may not allow, such as INFO), bounded by the operation timeout; a failure is thrown, to keep the circuit open.
    /// </summary>
    public T DeliverDirect<T>(RedisNode node, string operation, Func<BlockingRedisClient, long, T> command)
    {
        var started = Stopwatch.GetTimestamp();
        using var activity = RcMetrics.StartActivity(kind, node.Name, operation);
        try
        {
            var result = command(blocking, started + (long)(_timeout.TotalSeconds * Stopwatch.Frequency));
            metrics.Duration(kind, node.Name, operation, started);
            return result;
        }
        catch (Exception ex) when (IsFailure(ex))
        {
            activity?.SetStatus(ActivityStatusCode.Error, ex is TimeoutException ? "timeout" : "connection");
            throw;
        }
    }

    /// <summary>Counts a skipped or failed call and returns <paramref name="fallback"/>, or throws it as <see cref="RcCacheException"/> (Throw).</summary>
    public T Degrade<T>(RedisNode node, string operation, T fallback, FailureKind failure, Exception? exception)
    {
        metrics.Error(kind, node.Name, operation, TagOf(failure));
        if (failure == FailureKind.Skipped)
        {
            LogSkipped(logger, node.Name, operation);
        }
        else if (failure != FailureKind.ForeignData)
        {
            LogOperationFailed(logger, node.Name, operation, exception);
        }

        if (options.FailureMode == RcFailureMode.Throw && failure != FailureKind.ForeignData)
        {
            throw new RcCacheException(
                failure switch
                {
                    FailureKind.Skipped => $"The cache server '{node.Name}' is skipped: its circuit is open after a failure or while removals kept for it are delivered, or it already cost this request a timeout.",
                    FailureKind.Authentication => $"The cache operation '{operation}' on '{node.Name}' failed (authentication): the server refused this node's user name or password, or its TLS certificate was not accepted.",
                    _ => $"The cache operation '{operation}' on '{node.Name}' failed ({TagOf(failure)}).",
                },
                exception)
            { Shard = node.Name };
        }

        return fallback;
    }

    /// <summary>Keeps a removal that did not reach its server; Degrade reports it pending, Throw throws (it stays kept).</summary>
    public RcRemovalResult Kept(RedisNode node, string operation, Removal removal, FailureKind failure, Exception? exception)
    {
        Keep(node, removal, unsent: failure == FailureKind.Skipped);
        metrics.Error(kind, node.Name, operation, TagOf(failure));
        if (failure == FailureKind.Skipped)
        {
            LogSkipped(logger, node.Name, operation);
        }
        else
        {
            LogRemovalKept(logger, node.Name, operation, TagOf(failure), exception);
        }
        if (options.FailureMode == RcFailureMode.Throw)
        {
            throw new RcCacheException($"The removal '{operation}' could not reach cache server '{node.Name}' ({TagOf(failure)}); it is kept and delivered as soon as the server answers, and this node reads nothing from that server until then.", exception)
            { Shard = node.Name };
        }

        return new(0, removal.Size);
    }

    /// <summary>
    /// Keeps <paramref name="removal"/> for <paramref name="node"/>, if there is one; <paramref name="unsent"/> when it was
    /// never sent. On a cluster, keys go to the primaries that serve them now: a removal routed before the slot map was
    /// known (to the stand-in node that served every key until then) or before a slot moved would otherwise wait for its
    /// node's recovery to move it, and a read of the key meanwhile would reach its primary.
    /// </summary>
    public void Keep(RedisNode node, Removal? removal, bool unsent = false)
    {
        if (removal is null)
        {
            return;
        }

        if (topology.Kind == TopologyKind.Cluster && removal.Kind == RemovalKind.Keys && removal.Keys.Any(k => topology.NodeOf(k) != node))
        {
            foreach (var owned in removal.Keys.GroupBy(topology.NodeOf))
            {
                KeepOn(owned.Key, Removal.OfKeys([.. owned]), unsent);
            }

            return;
        }

        KeepOn(node, removal, unsent);
    }

    /// <summary>Keeps <paramref name="removal"/> for <paramref name="node"/> itself, wherever its keys route now: for a move between nodes that decided where each goes.</summary>
    public void KeepOn(RedisNode node, Removal removal, bool unsent = false) => KeepOn(node, removal, unsent, null);

    private void KeepOn(RedisNode node, Removal removal, bool unsent, HashSet<RedisNode>? handedTo)
    {
        if (node.Keep(removal, unsent, out var handedOn))
        {
            Overflowed?.Invoke(node);
        }

        foreach (var other in handedOn)
        {
            // Keys folded into a clear may have moved to a primary that took slots from this one lately; that one hands
            // it on as well, but a clear goes to each node once.
            handedTo ??= [node];
            if (handedTo.Add(other))
            {
                KeepOn(other, Removal.OfClear(removal.Kind == RemovalKind.Clear ? removal.Keys : node.Removals.Prefixes), false, handedTo);
            }
        }
    }

    /// <summary>
    /// A write the server refused (out of memory, say) left the value it was to replace: the server still answers, so
    /// the removal is sent at once, and kept only if that fails too.
    /// </summary>
    private async ValueTask RemoveNowOrKeepAsync(RedisNode node, Removal removal, FailureKind failure)
    {
        if (failure == FailureKind.Server)
        {
            try
            {
                await SendAsync(node, "delete_many", removal.Keys, (db, keys) => RedisCommands.DeleteAsync(db, keys, topology.Kind == TopologyKind.Cluster), CancellationToken.None).ConfigureAwait(false);
                return;
            }
            catch (CallFailedException)
            {
            }
        }

        Keep(node, removal);
    }

    /// <summary>What <see cref="RemoveNowOrKeepAsync"/> does, on the caller's thread.</summary>
    private void RemoveNowOrKeep(RedisNode node, Removal removal, FailureKind failure)
    {
        if (failure == FailureKind.Server)
        {
            try
            {
                var deadline = Stopwatch.GetTimestamp() + (long)(_timeout.TotalSeconds * Stopwatch.Frequency);
                foreach (var key in removal.Keys)
                {
                    blocking.Delete(key, deadline);
                }

                return;
            }
            catch (Exception ex) when (IsFailure(ex))
            {
            }
        }

        Keep(node, removal);
    }

    /// <summary>Sends a command bounded by the operation timeout; a failure is classified and thrown as <see cref="CallFailedException"/>.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<T> SendAsync<TState, T>(RedisNode node, string operation, TState state, Func<IDatabase, TState, Task<T>> command, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        using var activity = RcMetrics.StartActivity(kind, node.Name, operation);
        var database = topology.Database;
        Task<T>? task = null;
        try
        {
            task = Issue(database, state, command, cancellationToken);
            var result = await Bounded(task, cancellationToken).ConfigureAwait(false);
            Succeeded(node, operation, started);
            return result;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Observe(task);
            throw;
        }
        catch (Exception ex) when (IsFailure(ex))
        {
            throw new CallFailedException(Failed(node, operation, ex, activity, database, task), ex);
        }
    }

    /// <summary>Sends a command, on the connected client, or once it is connected (a first call).</summary>
    private Task<T> Issue<TState, T>(IDatabase? database, TState state, Func<IDatabase, TState, Task<T>> command, CancellationToken cancellationToken) =>
        database is not null ? command(database, state) : ConnectThenRunAsync(state, command, cancellationToken);

    /// <summary>A command's reply, bounded by the operation timeout and the caller's token.</summary>
    private ValueTask<T> Bounded<T>(Task<T> task, CancellationToken cancellationToken) =>
        task.IsCompleted ? new(task) : TimedReply<T>.WaitAsync(task, _deadlines.Next(), cancellationToken);

    /// <summary>An asynchronous call failed: its reply's exception is observed, and the failure classified (<see cref="Classify"/>).</summary>
    private FailureKind Failed(RedisNode node, string operation, Exception ex, Activity? activity, IDatabase? database, Task? task)
    {
        Observe(task);
        return Classify(node, operation, ex, activity, connecting: database is null, synchronous: false);
    }

    private void Succeeded(RedisNode node, string operation, long started)
    {
        node.Circuit.OnSuccess();
        metrics.Duration(kind, node.Name, operation, started);
    }

    private static byte[]? Copy(RedisValue value) => value.IsNull ? null : ((ReadOnlyMemory<byte>)value).ToArray();

    private async Task<T> ConnectThenRunAsync<TState, T>(TState state, Func<IDatabase, TState, Task<T>> command, CancellationToken cancellationToken) =>
        await command(await topology.GetDatabaseAsync(cancellationToken).ConfigureAwait(false), state).ConfigureAwait(false);

    /// <summary>Counts a failure against the node's circuit and in telemetry; returns its kind, or throws the caller's error (a counter on a value that is not one).</summary>
    private FailureKind Classify(RedisNode node, string operation, Exception ex, Activity? activity, bool connecting, bool synchronous)
    {
        switch (ex)
        {
            case ConnectTimeoutException:
            case TimeoutException or OperationCanceledException when connecting:
                // Still connecting (a cold process on a busy machine): a slow connect is not a server that stopped
                // answering, so it counts toward the threshold instead of opening the circuit at once.
                node.Circuit.OnFailure();
                FailureBudget.Spent(node);
                metrics.Timeout(kind, node.Name, operation);
                activity?.SetStatus(ActivityStatusCode.Error, "timeout");
                return FailureKind.Timeout;
            case TimeoutException or OperationCanceledException:
                // Our own deadline passed (the caller's token is handled before this).
                node.Circuit.OnTimeout();
                FailureBudget.Spent(node);
                metrics.Timeout(kind, node.Name, operation);
                activity?.SetStatus(ActivityStatusCode.Error, "timeout");
                return FailureKind.Timeout;
            case not null when Refusal(ex) is not null:
                return Refused(node, ex, activity);
            case RedisServerException when operation == "increment" && ex.Message.Contains("not an integer", StringComparison.Ordinal):
                // Not a store failure: the caller asked to count on a value that is not a counter, as on any store.
                node.Circuit.OnSuccess();
                throw new InvalidOperationException("The entry does not hold an integer, so it cannot be incremented.", ex);
            case RedisServerException when operation == "increment" && ex.Message.Contains("overflow", StringComparison.Ordinal):
                node.Circuit.OnSuccess();
                throw new OverflowException("Incrementing the entry would overflow a 64-bit integer.", ex);
            case RedisServerException or RespErrorException when ex.Message.StartsWith("WRONGTYPE", StringComparison.Ordinal):
                node.Circuit.OnSuccess();
                metrics.Error(kind, node.Name, operation, TagOf(FailureKind.ForeignData));
                LogForeignData(logger, node.Name, operation);
                return FailureKind.ForeignData;
            case RedisServerException or RespErrorException:
                // The server answered: it is healthy, but refused this command (out of memory, a command it refuses).
                node.Circuit.OnSuccess();
                activity?.SetStatus(ActivityStatusCode.Error, "server");
                return FailureKind.Server;
            case IOException or SocketException when synchronous && ex is not SocketException { SocketErrorCode: SocketError.ConnectionRefused }:
                // A connection of the synchronous client broke under a call: the server may have restarted.
                node.Suspect();
                node.Circuit.OnFailure();
                activity?.SetStatus(ActivityStatusCode.Error, "connection");
                return FailureKind.Connection;
            case not null when node.Link?.Refusal is { } refusal:
                // The client has no connection to send on, and the server's link knows why: it refuses this node.
                return Refused(node, refusal, activity);
            default:
                node.Circuit.OnFailure();
                activity?.SetStatus(ActivityStatusCode.Error, "connection");
                return FailureKind.Connection;
        }
    }

    /// <summary>Every call would be refused the same way: the circuit opens at once, and the refusal is reported once.</summary>
    private FailureKind Refused(RedisNode node, Exception refusal, Activity? activity)
    {
        node.Circuit.OnRefused();
        activity?.SetStatus(ActivityStatusCode.Error, "authentication");
        Report(node, refusal);
        return FailureKind.Authentication;
    }

    /// <summary>
    /// Why the server did not let this node in, or null when <paramref name="ex"/> is another failure: its TLS certificate
    /// was not accepted (not issued by a trusted authority, or not for the host name), or it refused the user name or
    /// password (<c>WRONGPASS</c>, <c>NOAUTH</c>; StackExchange.Redis reports both as an authentication failure).
    /// </summary>
    internal static string? Refusal(Exception ex)
    {
        var refused = false;
        for (var e = ex; e is not null; e = e.InnerException)
        {
            if (e is AuthenticationException)
            {
                return "its TLS certificate was not accepted (not issued by an authority this node trusts, or not for the host name it was reached by)";
            }

            refused |= e is RedisConnectionException { FailureType: ConnectionFailureType.AuthenticationFailure }
                || (e is RedisServerException or RespErrorException && (e.Message.StartsWith("WRONGPASS", StringComparison.Ordinal) || e.Message.StartsWith("NOAUTH", StringComparison.Ordinal)));
        }

        return refused ? "it refused this node's user name or password" : null;
    }

    /// <summary>Logs a refusal once per server, until the server serves again; the credentials themselves are never logged.</summary>
    private void Report(RedisNode node, Exception refusal)
    {
        if (node.FirstRefusal())
        {
            LogAuthenticationFailed(logger, node.Name, Refusal(refusal)!, refusal);
        }
    }

    private static bool IsFailure(Exception ex) =>
        ex is TimeoutException or OperationCanceledException or RedisException or RespErrorException or IOException or SocketException or ObjectDisposedException or InvalidOperationException or AuthenticationException;

    /// <summary>Lets a task run on without a caller, its failure observed (a failed removal is kept by the removal itself).</summary>
    public static void Observe(Task? task) =>
        task?.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
}
