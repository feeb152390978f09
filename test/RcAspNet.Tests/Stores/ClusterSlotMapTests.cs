using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using RcAspNet.Stores.Redis;
using RcAspNet.Tests.Infrastructure;
using StackExchange.Redis;

namespace RcAspNet.Tests.Stores;

/// <summary>
/// The slot map itself (<see cref="ClusterSlotMap"/>) over a real cluster and multiplexer: an owner learned from a MOVED
/// holds against the servers' views the client read before it, which a rebuild meanwhile would otherwise route back to
/// the server that redirected the slot (and hand the new owner's kept removals back to it), and against a view read
/// after it that has not heard of the move. A view read after it that names that owner, or a newer claim, settles it; the
/// next MOVED corrects a wrong one; and the views decide while the learned owner is not connected.
/// </summary>
public sealed class ClusterSlotMapTests
{
    private const int Slot = 1234;

    /// <summary>
    /// The slot moves to another primary (which raises its epoch, as a migration's end or a failover does); the map learns
    /// it from a MOVED before the client reads the configuration again. A rebuild from the views read before the move
    /// keeps the learned owner, and so does one once a server's view was read again.
    /// </summary>
    [Fact]
    public async Task AnOwnerLearnedFromAMoved_HoldsAgainstViewsReadBeforeIt()
    {
        await using var cluster = await ClusterUnderMap.StartAsync();
        var (map, from, to) = (cluster.Map, cluster.From, cluster.To);

        await cluster.AssignAsync(to);
        Assert.True(map.Learn(Slot, to));
        Assert.Equal([(from, to)], cluster.Handovers.ToArray());

        map.Rebuild();
        Assert.Equal(to, map.OwnerOf(Slot));

        await cluster.ReadAgainAsync(from);
        map.Rebuild();
        Assert.Equal(to, map.OwnerOf(Slot));
        Assert.Equal([(from, to)], cluster.Handovers.ToArray()); // never handed back
        Assert.Empty(cluster.Failures);
    }

    /// <summary>
    /// A view read after a MOVED that names the slot's old owner with no newer epoch has not heard of the move (gossip
    /// reaches servers in turn): it does not hand the slot back. Here the MOVED is one the servers do not bear out; the
    /// learned owner's own redirection, learned in turn, routes the slot back, and a view read after that settles it.
    /// </summary>
    [Fact]
    public async Task AnOwnerLearnedFromAMoved_HoldsAgainstAViewThatHasNotHeardOfTheMove_UntilTheNextMoved()
    {
        await using var cluster = await ClusterUnderMap.StartAsync();
        var (map, from, to) = (cluster.Map, cluster.From, cluster.To);

        Assert.True(map.Learn(Slot, to));
        await cluster.ReadAgainAsync(cluster.Third);
        map.Rebuild();
        Assert.Equal(to, map.OwnerOf(Slot));

        Assert.True(map.Learn(Slot, from)); // what the learned owner answers a read of the slot with
        await cluster.ReadAgainAsync(cluster.Third);
        map.Rebuild();
        Assert.Equal(from, map.OwnerOf(Slot));
        Assert.Equal([(from, to), (to, from)], cluster.Handovers.ToArray());
        Assert.Empty(cluster.Failures);
    }

    /// <summary>
    /// The slot moves on again, to a third primary, after the map learned its second owner from a MOVED: one server's
    /// view read again names the third, and it decides, as the learned owner may be gone (failed over, or removed).
    /// </summary>
    [Fact]
    public async Task AnOwnerLearnedFromAMoved_YieldsToANewerOwnerInAViewReadAfterIt()
    {
        await using var cluster = await ClusterUnderMap.StartAsync();
        var (map, from, to, third) = (cluster.Map, cluster.From, cluster.To, cluster.Third);

        await cluster.AssignAsync(to);
        Assert.True(map.Learn(Slot, to));
        await cluster.AssignAsync(third);
        map.Rebuild();
        Assert.Equal(to, map.OwnerOf(Slot));

        await cluster.ReadAgainAsync(from);
        map.Rebuild();
        Assert.Equal(third, map.OwnerOf(Slot));
        Assert.Equal([(from, to), (to, third)], cluster.Handovers.ToArray());
        Assert.Empty(cluster.Failures);
    }

    /// <summary>
    /// A MOVED that names a server the client is not connected to (removed from the cluster, or not reached yet) cannot be
    /// corrected by that server's redirection: the views decide.
    /// </summary>
    [Fact]
    public async Task AnOwnerLearnedFromAMoved_ThatIsNotConnected_YieldsToTheViews()
    {
        await using var cluster = await ClusterUnderMap.StartAsync();
        var (map, from) = (cluster.Map, cluster.From);
        var gone = new IPEndPoint(IPAddress.Loopback, 1);

        Assert.True(map.Learn(Slot, gone));
        map.Rebuild();
        Assert.Equal(from, map.OwnerOf(Slot));
        Assert.Equal([(from, gone), (gone, from)], cluster.Handovers.ToArray());
        Assert.Empty(cluster.Failures);
    }

    /// <summary>
    /// A cluster of three primaries, a multiplexer (admin: it asks one server for <c>CLUSTER NODES</c>), and a slot map
    /// over it, made once the multiplexer holds every server's configuration (one that came later would make the map's
    /// timer rebuild it). <see cref="From"/> owns <see cref="Slot"/> at the start.
    /// </summary>
    private sealed class ClusterUnderMap : IAsyncDisposable
    {
        private readonly RedisClusterServers _servers;
        private readonly ConnectionMultiplexer _connection;

        private ClusterUnderMap(RedisClusterServers servers, ConnectionMultiplexer connection)
        {
            _servers = servers;
            _connection = connection;
            Map = new ClusterSlotMap(
                connection,
                TimeProvider.System,
                static (_, _) => { },
                (pairs, _) =>
                {
                    foreach (var pair in pairs.Keys)
                    {
                        Handovers.Enqueue(pair);
                    }
                },
                static () => { },
                Failures.Enqueue);
            try
            {
                From = Map.OwnerOf(Slot) ?? throw new InvalidOperationException("The map names no owner of the slot.");
                var others = Map.Owners().Where(p => !p.Equals(From)).ToArray();
                Assert.Equal(2, others.Length);
                (To, Third) = (others[0], others[1]);
            }
            catch
            {
                Map.Dispose();
                throw;
            }
        }

        public ClusterSlotMap Map { get; }

        /// <summary>Gets the handovers the map reported, in order.</summary>
        public ConcurrentQueue<(EndPoint From, EndPoint To)> Handovers { get; } = new();

        /// <summary>Gets what the map's checks failed with.</summary>
        public ConcurrentQueue<Exception> Failures { get; } = new();

        public EndPoint From { get; }

        public EndPoint To { get; }

        public EndPoint Third { get; }

        public static async Task<ClusterUnderMap> StartAsync()
        {
            var servers = await RedisClusterServers.StartAsync();
            ConnectionMultiplexer? connection = null;
            try
            {
                connection = await ConnectionMultiplexer.ConnectAsync(servers.Configuration + ",allowAdmin=true");
                await Eventually.TrueAsync(() => Task.FromResult(connection.GetServers() is { Length: 3 } all && all.All(static s => s.ClusterConfiguration is not null)));
                return new ClusterUnderMap(servers, connection);
            }
            catch
            {
                if (connection is not null)
                {
                    await connection.DisposeAsync();
                }

                await servers.DisposeAsync();
                throw;
            }
        }

        /// <summary>Has the multiplexer read <paramref name="endPoint"/>'s configuration again (<c>CLUSTER NODES</c>), as it reads one on a MOVED.</summary>
        public async Task ReadAgainAsync(EndPoint endPoint)
        {
            var server = _connection.GetServer(endPoint);
            var before = server.ClusterConfiguration;
            await server.ClusterNodesAsync();
            await Eventually.TrueAsync(() => Task.FromResult(!ReferenceEquals(server.ClusterConfiguration, before)));
        }

        /// <summary>Gives the (empty) slot to <paramref name="to"/> on every node, itself first, with an epoch above every other node's.</summary>
        public async Task AssignAsync(EndPoint to)
        {
            var owner = _servers.ServerAt(((IPEndPoint)to).Port);
            var id = (await RedisClusterServers.NodesAsync(owner)).Single(n => n.Port == owner.Port).Id;
            var bumped = await owner.CommandAsync("CLUSTER", "BUMPEPOCH");
            Assert.True(bumped.StartsWith("+BUMPED", StringComparison.Ordinal) || bumped.StartsWith("+STILL", StringComparison.Ordinal), bumped);
            foreach (var server in _servers.Nodes.OrderBy(s => s == owner ? 0 : 1))
            {
                Assert.StartsWith("+OK", await server.CommandAsync("CLUSTER", "SETSLOT", Slot.ToString(CultureInfo.InvariantCulture), "NODE", id), StringComparison.Ordinal);
            }
        }

        public async ValueTask DisposeAsync()
        {
            try
            {
                Map.Dispose();
                await _connection.DisposeAsync();
            }
            finally
            {
                await _servers.DisposeAsync();
            }
        }
    }
}
