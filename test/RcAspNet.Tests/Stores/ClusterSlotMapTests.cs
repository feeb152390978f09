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
/// the server that redirected the slot (and hand the new owner's kept removals back to it), and yields once every view
/// was read again.
/// </summary>
public sealed class ClusterSlotMapTests
{
    private const int Slot = 1234;

    /// <summary>
    /// The slot moves to another primary (which raises its epoch, as a migration's end or a failover does); the map learns
    /// it from a MOVED before the client reads the configuration again. A rebuild from the views read before the move
    /// keeps the learned owner, and so does one from the views read after it.
    /// </summary>
    [Fact]
    public async Task AnOwnerLearnedFromAMoved_HoldsAgainstViewsReadBeforeIt_AndStaysOnceTheyAreReadAgain()
    {
        await using var cluster = await RedisClusterServers.StartAsync();
        await using var connection = await ConnectionMultiplexer.ConnectAsync(cluster.Configuration);
        var (map, handovers, failures) = Map(connection);
        using var _ = map;
        var (from, to) = Primaries(map);

        await AssignAsync(cluster, to);
        Assert.True(map.Learn(Slot, to));
        Assert.Equal([(from, to)], handovers.ToArray());

        map.Rebuild();
        Assert.Equal(to, map.OwnerOf(Slot));

        await ReadAgainAsync(connection);
        map.Rebuild();
        Assert.Equal(to, map.OwnerOf(Slot));
        Assert.Equal([(from, to)], handovers.ToArray()); // never handed back
        Assert.Empty(failures);
    }

    /// <summary>
    /// A MOVED the servers do not bear out (the slot never left its owner here) routes the slot to the server it named
    /// only until every view was read again: the views read after it decide, so a learned owner cannot outlive them.
    /// </summary>
    [Fact]
    public async Task AnOwnerLearnedFromAMoved_YieldsToViewsReadAfterIt()
    {
        await using var cluster = await RedisClusterServers.StartAsync();
        await using var connection = await ConnectionMultiplexer.ConnectAsync(cluster.Configuration);
        var (map, handovers, failures) = Map(connection);
        using var _ = map;
        var (from, to) = Primaries(map);

        Assert.True(map.Learn(Slot, to));
        map.Rebuild();
        Assert.Equal(to, map.OwnerOf(Slot));

        await ReadAgainAsync(connection);
        map.Rebuild();
        Assert.Equal(from, map.OwnerOf(Slot));
        Assert.Equal([(from, to), (to, from)], handovers.ToArray());
        Assert.Empty(failures);
    }

    private static (ClusterSlotMap Map, ConcurrentQueue<(EndPoint From, EndPoint To)> Handovers, ConcurrentQueue<Exception> Failures) Map(IConnectionMultiplexer connection)
    {
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

    /// <summary>
    /// Has the multiplexer read every server's configuration again, and waits until it has: it asks each server as it
    /// configures, and takes the replies as they come.
    /// </summary>
    private static async Task ReadAgainAsync(IConnectionMultiplexer connection)
    {
        var servers = connection.GetServers();
        var before = servers.Select(static s => s.ClusterConfiguration).ToArray();
        await connection.ConfigureAsync();
        await Eventually.TrueAsync(() => Task.FromResult(servers.Select((s, i) => !ReferenceEquals(s.ClusterConfiguration, before[i])).All(static b => b)));
    }

    /// <summary>The slot's owner as the map first reads it, and another primary.</summary>
    private static (EndPoint From, EndPoint To) Primaries(ClusterSlotMap map)
    {
        var from = map.OwnerOf(Slot);
        Assert.NotNull(from);
        return (from, map.Owners().First(p => !p.Equals(from)));
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
