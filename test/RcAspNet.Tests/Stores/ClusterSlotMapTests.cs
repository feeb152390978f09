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
/// the server that redirected the slot (and hand the new owner's kept removals back to it), and yields to the first view
/// read after it.
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
        await using var cluster = await RedisClusterServers.StartAsync();
        await using var connection = await ConnectionMultiplexer.ConnectAsync(cluster.Configuration + ",allowAdmin=true"); // CLUSTER NODES to one server
        var (map, handovers, failures) = await MapAsync(connection);
        using var _ = map;
        var (from, to, _) = Primaries(map);

        await AssignAsync(cluster, to);
        Assert.True(map.Learn(Slot, to));
        Assert.Equal([(from, to)], handovers.ToArray());

        map.Rebuild();
        Assert.Equal(to, map.OwnerOf(Slot));

        await ReadAgainAsync(connection, from);
        map.Rebuild();
        Assert.Equal(to, map.OwnerOf(Slot));
        Assert.Equal([(from, to)], handovers.ToArray()); // never handed back
        Assert.Empty(failures);
    }

    /// <summary>
    /// A view read after a MOVED that names the slot's old owner with no newer epoch has not heard of the move (gossip
    /// reaches servers in turn): it does not hand the slot back. Here the MOVED is one the servers do not bear out; the
    /// learned owner's own redirection, learned in turn, routes the slot back, and a view read after that settles it.
    /// </summary>
    [Fact]
    public async Task AnOwnerLearnedFromAMoved_HoldsAgainstAViewThatHasNotHeardOfTheMove_UntilTheNextMoved()
    {
        await using var cluster = await RedisClusterServers.StartAsync();
        await using var connection = await ConnectionMultiplexer.ConnectAsync(cluster.Configuration + ",allowAdmin=true"); // CLUSTER NODES to one server
        var (map, handovers, failures) = await MapAsync(connection);
        using var _ = map;
        var (from, to, other) = Primaries(map);

        Assert.True(map.Learn(Slot, to));
        await ReadAgainAsync(connection, other);
        map.Rebuild();
        Assert.Equal(to, map.OwnerOf(Slot));

        Assert.True(map.Learn(Slot, from)); // what the learned owner answers a read of the slot with
        await ReadAgainAsync(connection, other);
        map.Rebuild();
        Assert.Equal(from, map.OwnerOf(Slot));
        Assert.Equal([(from, to), (to, from)], handovers.ToArray());
        Assert.Empty(failures);
    }

    /// <summary>
    /// The slot moves on again, to a third primary, after the map learned its second owner from a MOVED: one server's
    /// view read again names the third, and it decides, as the learned owner may be gone (failed over, or removed).
    /// </summary>
    [Fact]
    public async Task AnOwnerLearnedFromAMoved_YieldsToANewerOwnerInAViewReadAfterIt()
    {
        await using var cluster = await RedisClusterServers.StartAsync();
        await using var connection = await ConnectionMultiplexer.ConnectAsync(cluster.Configuration + ",allowAdmin=true"); // CLUSTER NODES to one server
        var (map, handovers, failures) = await MapAsync(connection);
        using var _ = map;
        var (from, to, third) = Primaries(map);

        await AssignAsync(cluster, to);
        Assert.True(map.Learn(Slot, to));
        await AssignAsync(cluster, third);
        map.Rebuild();
        Assert.Equal(to, map.OwnerOf(Slot));

        await ReadAgainAsync(connection, from);
        map.Rebuild();
        Assert.Equal(third, map.OwnerOf(Slot));
        Assert.Equal([(from, to), (to, third)], handovers.ToArray());
        Assert.Empty(failures);
    }

    /// <summary>A map over <paramref name="connection"/>, once the multiplexer holds every server's configuration: one that came later would make the map's timer rebuild it.</summary>
    private static async Task<(ClusterSlotMap Map, ConcurrentQueue<(EndPoint From, EndPoint To)> Handovers, ConcurrentQueue<Exception> Failures)> MapAsync(IConnectionMultiplexer connection)
    {
        await Eventually.TrueAsync(() => Task.FromResult(connection.GetServers() is { Length: 3 } servers && servers.All(static s => s.ClusterConfiguration is not null)));
        var handovers = new ConcurrentQueue<(EndPoint, EndPoint)>();
        var failures = new ConcurrentQueue<Exception>();
        var map = new ClusterSlotMap(
            connection,
            TimeProvider.System,
            static (_, _) => { },
            (pairs, _) =>
            {
                foreach (var pair in pairs.Keys)
                {
                    handovers.Enqueue(pair);
                }
            },
            static () => { },
            failures.Enqueue);
        return (map, handovers, failures);
    }

    /// <summary>Has the multiplexer read <paramref name="endPoint"/>'s configuration again (<c>CLUSTER NODES</c>), as it reads one on a MOVED.</summary>
    private static async Task ReadAgainAsync(IConnectionMultiplexer connection, EndPoint endPoint)
    {
        var server = connection.GetServer(endPoint);
        var before = server.ClusterConfiguration;
        await server.ClusterNodesAsync();
        await Eventually.TrueAsync(() => Task.FromResult(!ReferenceEquals(server.ClusterConfiguration, before)));
    }

    /// <summary>The slot's owner as the map first reads it, and the two other primaries.</summary>
    private static (EndPoint From, EndPoint To, EndPoint Third) Primaries(ClusterSlotMap map)
    {
        var from = map.OwnerOf(Slot);
        Assert.NotNull(from);
        var others = map.Owners().Where(p => !p.Equals(from)).ToArray();
        Assert.Equal(2, others.Length);
        return (from, others[0], others[1]);
    }

    /// <summary>Gives the (empty) slot to <paramref name="to"/> on every node, itself first, with an epoch above every other node's.</summary>
    private static async Task AssignAsync(RedisClusterServers cluster, EndPoint to)
    {
        var owner = cluster.ServerAt(((IPEndPoint)to).Port);
        var id = (await RedisClusterServers.NodesAsync(owner)).Single(n => n.Port == owner.Port).Id;
        var bumped = await owner.CommandAsync("CLUSTER", "BUMPEPOCH");
        Assert.True(bumped.StartsWith("+BUMPED", StringComparison.Ordinal) || bumped.StartsWith("+STILL", StringComparison.Ordinal), bumped);
        foreach (var server in cluster.Nodes.OrderBy(s => s == owner ? 0 : 1))
        {
            Assert.StartsWith("+OK", await server.CommandAsync("CLUSTER", "SETSLOT", Slot.ToString(CultureInfo.InvariantCulture), "NODE", id), StringComparison.Ordinal);
        }
    }
}
