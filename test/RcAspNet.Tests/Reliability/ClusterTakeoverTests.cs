using System.Globalization;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Stores.Redis;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Reliability;

/// <summary>
/// A primary that takes over a slot of a Redis Cluster may hold an entry that its predecessor had deleted: a replica
/// promoted after it missed the last writes of a primary cut off from it is one such primary. Here a node joins the
/// cluster with a copy of an entry made before the application removed it, and is then given the entry's slot, as a
/// promotion gives a replica its primary's slots. The slot's old primary answers MOVED from then on, and the client
/// would follow it at once: nothing of the new primary may be served until it was verified and handed the removals it
/// may lack.
/// </summary>
public sealed class ClusterTakeoverTests
{
    private const string Ns = "takeover:";
    private const string Key = "post:1";

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task SlotTakenOverByAPrimaryThatLacksARemoval_ItsOldEntryIsNeverServed(bool synchronous)
    {
        await using var cluster = await RedisClusterServers.StartAsync();
        await using var newcomer = await RedisServer.StartAsync("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000");
        await using var services = TestServices.Build(o => (o.Store, o.Redis, o.Namespace) = (RcStoreKind.Redis, cluster.Configuration, Ns));
        var cache = services.GetRequiredService<IDistributedCache>();
        async Task<string?> Read() => synchronous ? cache.GetString(Key) : await cache.GetStringAsync(Key);

        await cache.SetStringAsync(Key, "v1");
        Assert.Equal("v1", await Read());

        // The newcomer joins, and gets a copy of the entry while it imports the slot (MIGRATE ... COPY leaves it on
        // its primary too).
        var slot = HashSlot.Of(Ns + Key);
        var number = slot.ToString(CultureInfo.InvariantCulture);
        Assert.StartsWith("+OK", await newcomer.CommandAsync("CLUSTER", "MEET", "127.0.0.1", cluster.Nodes[0].Port.ToString(CultureInfo.InvariantCulture)), StringComparison.Ordinal);
        var servers = cluster.Nodes.Append(newcomer).ToArray();
        await Eventually.TrueAsync(async () =>
            (await Task.WhenAll(servers.Select(RedisClusterServers.NodesAsync))).All(view => view.Count == 4 && view.All(static n => n.IsLinked)) &&
            await RedisClusterServers.IsOkAsync(newcomer));
        var nodes = await RedisClusterServers.NodesAsync(cluster.Nodes[0]);
        var from = nodes.Single(n => n.Owns(slot));
        var to = nodes.Single(n => n.Port == newcomer.Port);
        Assert.StartsWith("+OK", await newcomer.CommandAsync("CLUSTER", "SETSLOT", number, "IMPORTING", from.Id), StringComparison.Ordinal);
        var copied = await cluster.ServerAt(from.Port).CommandAsync("MIGRATE", "127.0.0.1", newcomer.Port.ToString(CultureInfo.InvariantCulture), Ns + Key, "0", "5000", "COPY");
        Assert.True(copied.StartsWith("+OK", StringComparison.Ordinal), copied);

        // The application removes the entry: its primary acknowledges the delete, which the newcomer never gets.
        await cache.RemoveAsync(Key);
        Assert.Null(await Read());

        // The slot goes to the newcomer, without its keys; the old primary redirects the entry there.
        foreach (var server in servers.OrderBy(s => s == newcomer ? 0 : 1))
        {
            Assert.StartsWith("+OK", await server.CommandAsync("CLUSTER", "SETSLOT", number, "NODE", to.Id), StringComparison.Ordinal);
        }

        Assert.StartsWith("-MOVED", await cluster.ServerAt(from.Port).CommandAsync("GET", Ns + Key), StringComparison.Ordinal);
        Assert.StartsWith("$", await newcomer.CommandAsync("GET", Ns + Key), StringComparison.Ordinal);

        // Reads follow the move, and never serve the entry, until the newcomer was handed the removal.
        await Eventually.TrueAsync(async () =>
        {
            Assert.Null(await Read());
            return (await newcomer.CommandAsync("EXISTS", Ns + Key)).StartsWith(":0", StringComparison.Ordinal);
        });
        Assert.Null(await Read());

        // Verified, the newcomer serves the slot.
        await cache.SetStringAsync(Key, "v2");
        Assert.Equal("v2", await Read());
        Assert.StartsWith("$", await newcomer.CommandAsync("GET", Ns + Key), StringComparison.Ordinal);
    }
}
