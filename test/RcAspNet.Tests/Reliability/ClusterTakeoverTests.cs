using System.Globalization;
using System.Net;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RcAspNet.Caching;
using RcAspNet.Stores.Redis;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Reliability;

/// <summary>
/// A primary that takes over a slot of a Redis Cluster may hold an entry that its predecessor had deleted: a replica
/// promoted after it missed the last writes of a primary cut off from it is one such primary. Here a node joins the
/// cluster with a copy of an entry made before the application removed it, and is then given the entry's slot (as a
/// promotion gives a replica its primary's slots), or starts importing it. The slot's old primary redirects the key
/// there (MOVED, or ASK while the slot migrates), and the client would follow at once: nothing of the new primary may
/// be served until it was verified and handed the removals it may lack.
/// </summary>
public sealed class ClusterTakeoverTests
{
    private const string Ns = "takeover:";
    private const string Key = "post:1";

    private readonly LogRecorder _logs = new();

    /// <summary>
    /// A newcomer with a copy of an entry the application then removed is given the entry's slot: the old primary
    /// redirects the key there (MOVED), and nothing of the newcomer is served until it was handed the removal. The
    /// removal is the key's, or a clear of the cache, which does not scan the newcomer (it owns no slot yet) and so
    /// misses what was moved there. A clear that reached every primary counts however long the slot takes to move after
    /// it (<paramref name="longAfter"/>: past <c>Rc:RemovalReplayWindow</c>, whose replay no longer holds it).
    /// </summary>
    [Theory]
    [InlineData(false, false, false)]
    [InlineData(true, false, false)]
    [InlineData(false, true, false)]
    [InlineData(true, true, false)]
    [InlineData(false, true, true)]
    [InlineData(true, true, true)]
    public async Task SlotTakenOverByAPrimaryThatLacksARemoval_ItsOldEntryIsNeverServed(bool synchronous, bool clear, bool longAfter)
    {
        var window = TimeSpan.FromSeconds(1);
        await using var cluster = await RedisClusterServers.StartAsync();
        await using var newcomer = await StartNewcomerAsync(cluster);
        await using var services = longAfter ? Services(cluster, o => o.RemovalReplayWindow = window) : Services(cluster);
        var cache = services.GetRequiredService<IDistributedCache>();
        var (from, to, slot) = await RemoveWhileTheNewcomerKeepsACopyAsync(
            cluster,
            newcomer,
            cache,
            synchronous,
            clear ? async () => Assert.Equal(0, (await services.GetRequiredService<IRcCache>().ClearAsync()).Pending) : null);
        if (longAfter)
        {
            // Only ever longer than the window on a slow machine.
            await Task.Delay(window * 2);
        }

        // The slot goes to the newcomer, without its keys; the old primary redirects the entry there for good.
        await AssignAsync(cluster.Nodes.Append(newcomer), newcomer, slot, to.Id);

        Assert.StartsWith("-MOVED", await cluster.ServerAt(from.Port).CommandAsync("GET", Ns + Key), StringComparison.Ordinal);

        // Reads follow the move, and never serve the entry, until the newcomer was handed the removal.
        await Eventually.TrueAsync(async () =>
        {
            Assert.Null(await ReadAsync(cache, synchronous));
            return (await newcomer.CommandAsync("EXISTS", Ns + Key)).StartsWith(":0", StringComparison.Ordinal);
        });
        Assert.Null(await ReadAsync(cache, synchronous));

        // Verified, the newcomer serves the slot (once its circuit has closed, which follows the delivery).
        await ServesAgainAsync(cache, () => ReadAsync(cache, synchronous));
        await AssertHoldsTheEntryAsync(newcomer);
    }

    /// <summary>
    /// A clear that ran while no slot migrated holds nothing past <c>Rc:RemovalReplayWindow</c>: a slot resharded later,
    /// with a key written after the clear, keeps that key on its new primary, which serves it. A slot handed over within
    /// the window (<paramref name="withinWindow"/>) may have moved while the clear ran, learned of late: its new primary
    /// is cleared.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ASlotReshardedAfterAClearThatRanWhileNothingMigrated_IsClearedOnlyWithinTheWindow(bool withinWindow)
    {
        var window = withinWindow ? TimeSpan.FromMinutes(5) : TimeSpan.FromSeconds(1);
        await using var cluster = await RedisClusterServers.StartAsync();
        await using var services = Services(cluster, o => o.RemovalReplayWindow = window);
        var cache = services.GetRequiredService<IDistributedCache>();
        await cache.SetStringAsync(Key, "v0");
        Assert.Equal(0, (await services.GetRequiredService<IRcCache>().ClearAsync()).Pending);
        await cache.SetStringAsync(Key, "v1");
        Assert.Equal("v1", await cache.GetStringAsync(Key));
        if (!withinWindow)
        {
            // Only ever longer than the window on a slow machine.
            await Task.Delay(window * 2);
        }

        // The slot moves to another primary with its key, as a reshard moves it.
        var slot = HashSlot.Of(Ns + Key).ToString(CultureInfo.InvariantCulture);
        var nodes = await RedisClusterServers.NodesAsync(cluster.Nodes[0]);
        var from = nodes.Single(n => n.IsPrimary && n.Owns(HashSlot.Of(Ns + Key)));
        var to = nodes.First(n => n.IsPrimary && n.Id != from.Id);
        var (source, target) = (cluster.ServerAt(from.Port), cluster.ServerAt(to.Port));
        Assert.StartsWith("+OK", await target.CommandAsync("CLUSTER", "SETSLOT", slot, "IMPORTING", from.Id), StringComparison.Ordinal);
        Assert.StartsWith("+OK", await source.CommandAsync("CLUSTER", "SETSLOT", slot, "MIGRATING", to.Id), StringComparison.Ordinal);
        var moved = await source.CommandAsync("MIGRATE", "127.0.0.1", to.Port.ToString(CultureInfo.InvariantCulture), Ns + Key, "0", "5000");
        Assert.True(moved.StartsWith("+OK", StringComparison.Ordinal), moved);
        await AssignAsync(cluster.Nodes, target, slot, to.Id);

        // Once the store routes the slot to the new primary: past the window the entry is served there, never cleared;
        // within it the new primary is cleared before it serves, and the entry is gone.
        var store = (RedisStore)services.GetRequiredService<CacheRegistry>().Stores[0];
        await Eventually.TrueAsync(async () =>
        {
            var read = await cache.GetStringAsync(Key);
            var routed = store.RoutedTo(Ns + Key) is IPEndPoint { Port: var port } && port == to.Port;
            return withinWindow
                ? routed && (await target.CommandAsync("EXISTS", Ns + Key)).StartsWith(":0", StringComparison.Ordinal)
                : routed && read == "v1";
        });
        Assert.StartsWith(withinWindow ? ":0" : ":1", await target.CommandAsync("EXISTS", Ns + Key), StringComparison.Ordinal);
    }

    /// <summary>
    /// While the slot migrates to the newcomer, the old primary answers ASK for a key it does not hold, the removed one
    /// included. A primary that owns no slot yet was never verified: what it answers is not served.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task SlotMigratingToAPrimaryThatOwnsNoSlotYet_ItsCopyOfARemovedEntryIsNeverServed(bool synchronous)
    {
        await using var cluster = await RedisClusterServers.StartAsync();
        await using var newcomer = await StartNewcomerAsync(cluster);
        await using var services = Services(cluster);
        var cache = services.GetRequiredService<IDistributedCache>();
        var (from, to, slot) = await RemoveWhileTheNewcomerKeepsACopyAsync(cluster, newcomer, cache, synchronous);

        Assert.StartsWith("+OK", await cluster.ServerAt(from.Port).CommandAsync("CLUSTER", "SETSLOT", slot, "MIGRATING", to.Id), StringComparison.Ordinal);
        Assert.StartsWith("-ASK", await cluster.ServerAt(from.Port).CommandAsync("GET", Ns + Key), StringComparison.Ordinal);
        for (var i = 0; i < 20; i++)
        {
            Assert.Null(await ReadAsync(cache, synchronous));
        }

        // The newcomer still holds its copy (it answers only ASKING clients for the slot, but counts its keys).
        Assert.StartsWith(":1", await newcomer.CommandAsync("CLUSTER", "COUNTKEYSINSLOT", slot), StringComparison.Ordinal);
    }

    /// <summary>
    /// The application can learn that a primary which joined the cluster after the client connected took over a slot
    /// from the client's own reading of the cluster's configuration, with no redirection to tell it: the slot is served
    /// again, by that primary, once it was verified.
    /// </summary>
    [Fact]
    public async Task SlotTakenOverByAPrimaryThatJoinedLater_LearnedFromTheConfiguration_IsServedAgain()
    {
        await using var cluster = await RedisClusterServers.StartAsync();
        await using var newcomer = await StartNewcomerAsync(cluster);
        await using var services = Services(cluster);
        var cache = services.GetRequiredService<IDistributedCache>();
        var store = (RedisStore)services.GetRequiredService<CacheRegistry>().Stores[0];
        Assert.Null(await cache.GetStringAsync(Key)); // connected, and its primary routed to (a slot with keys cannot move without them)

        // The store knows the slot map before the slot moves: what it learns next, it learns from the configuration read
        // again, not from its first reading of it.
        await Eventually.TrueAsync(() => Task.FromResult(store.RoutedTo(Ns + Key) is IPEndPoint));

        var slot = HashSlot.Of(Ns + Key).ToString(CultureInfo.InvariantCulture);
        var to = (await RedisClusterServers.NodesAsync(cluster.Nodes[0])).Single(n => n.Port == newcomer.Port);
        await AssignAsync(cluster.Nodes.Append(newcomer), newcomer, slot, to.Id);

        // The client reads the configuration again before anything is read: the store routes the slot to the newcomer.
        var connection = (await store.GetConnectionsAsync(CancellationToken.None)).Values.Single();
        await Eventually.TrueAsync(
            async () =>
            {
                await connection.ConfigureAsync();
                return store.RoutedTo(Ns + Key) is IPEndPoint { Port: var port } && port == newcomer.Port;
            },
            why: async () =>
            {
                // Who each server, and the client's view of each, says owns the slot: a view the client never read again
                // (the newcomer's, read as it connected) names the old owner.
                var views = new List<string>();
                foreach (var server in cluster.Nodes.Append(newcomer))
                {
                    views.Add($"{server.Port} says {string.Join(",", (await RedisClusterServers.NodesAsync(server)).Where(n => n.Owns(HashSlot.Of(Ns + Key))).Select(static n => n.Port))}");
                }

                foreach (var endPoint in connection.GetEndPoints())
                {
                    var server = connection.GetServer(endPoint);
                    views.Add($"the client's {endPoint} (connected: {server.IsConnected}) says {server.ClusterConfiguration?.GetBySlot(HashSlot.Of(Ns + Key))?.EndPoint}");
                }

                return $"The store routes the slot to {store.RoutedTo(Ns + Key)}, the newcomer is {newcomer.Port}; {string.Join("; ", views)}.";
            });

        await ServesAgainAsync(cache, () => cache.GetStringAsync(Key));
        await AssertHoldsTheEntryAsync(newcomer);
    }

    /// <summary>
    /// A read that is not followed (a batch's <c>MGET</c>, an <c>EXISTS</c>) teaches the store where its slot went, as a
    /// GET does: with no other call, the slot is routed to the primary that joined the cluster and took it over, and the
    /// client is made to connect to it, so that it serves the slot again.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task SlotTakenOverByAPrimaryThatJoinedLater_LearnedFromAReadThatIsNotFollowed_IsServedAgain(bool exists)
    {
        await using var cluster = await RedisClusterServers.StartAsync();
        await using var newcomer = await StartNewcomerAsync(cluster);
        await using var services = Services(cluster);
        var cache = services.GetRequiredService<IRcCache>();
        var store = (RedisStore)services.GetRequiredService<CacheRegistry>().Stores[0];
        async Task<bool> ReadAsync(string value) => exists ? await cache.ExistsAsync(Key) : (await cache.GetManyAsync<string>([Key]))[0] == value;
        Assert.False(await ReadAsync("v1")); // connected, and its primary routed to (a slot with keys cannot move without them)

        var slot = HashSlot.Of(Ns + Key).ToString(CultureInfo.InvariantCulture);
        var from = (await RedisClusterServers.NodesAsync(cluster.Nodes[0])).Single(n => n.Owns(HashSlot.Of(Ns + Key)));
        var to = (await RedisClusterServers.NodesAsync(cluster.Nodes[0])).Single(n => n.Port == newcomer.Port);
        await AssignAsync(cluster.Nodes.Append(newcomer), newcomer, slot, to.Id);
        Assert.StartsWith("-MOVED", await cluster.ServerAt(from.Port).CommandAsync("GET", Ns + Key), StringComparison.Ordinal);

        // Only reads that are not followed: each is redirected (a miss) until the slot map has learned where it went.
        await Eventually.TrueAsync(async () =>
        {
            Assert.False(await ReadAsync("v1"));
            return store.RoutedTo(Ns + Key) is IPEndPoint { Port: var port } && port == newcomer.Port;
        });

        // Another node writes the entry there; this one, which neither writes nor follows a redirection, serves it.
        await using var other = Services(cluster);
        await other.GetRequiredService<IRcCache>().SetAsync(Key, "v2");
        await AssertHoldsTheEntryAsync(newcomer);
        await Eventually.TrueAsync(() => ReadAsync("v2"));
    }

    /// <summary>
    /// With the near cache, a read on a cluster goes to its primary's own server without being redirected, on both
    /// clients. When a primary that joined after the client connected takes over the slot, the redirection names a
    /// server the client has not connected to: the slot is served again, by the new primary, and no read fails.
    /// </summary>
    [Fact]
    public async Task SlotTakenOverByAPrimaryThatJoinedLater_IsServedAgain_WithTheNearCache()
    {
        await using var cluster = await RedisClusterServers.StartAsync();
        await using var newcomer = await StartNewcomerAsync(cluster);
        await using var services = TestServices.Build(o => (o.Store, o.Redis, o.Namespace, o.NearCache.Enabled) = (RcStoreKind.Redis, cluster.Configuration, Ns, true), Logged);
        var cache = services.GetRequiredService<IDistributedCache>();
        Assert.Null(await cache.GetStringAsync(Key)); // connected, and its primary routed to (a slot with keys cannot move without them)

        var slot = HashSlot.Of(Ns + Key).ToString(CultureInfo.InvariantCulture);
        var nodes = await RedisClusterServers.NodesAsync(cluster.Nodes[0]);
        var from = nodes.Single(n => n.Owns(HashSlot.Of(Ns + Key)));
        var to = nodes.Single(n => n.Port == newcomer.Port);
        Assert.StartsWith("+OK", await newcomer.CommandAsync("CLUSTER", "SETSLOT", slot, "IMPORTING", from.Id), StringComparison.Ordinal);
        await AssignAsync(cluster.Nodes.Append(newcomer), newcomer, slot, to.Id);

        // The first call after the move is a near miss, which the old primary redirects to the newcomer.
        Assert.StartsWith("-MOVED", await cluster.ServerAt(from.Port).CommandAsync("GET", Ns + Key), StringComparison.Ordinal);
        Assert.Null(await cache.GetStringAsync(Key));
        await ServesAgainAsync(cache, async () => await cache.GetStringAsync(Key) == "v2" ? cache.GetString(Key) : null); // both reads
        await AssertHoldsTheEntryAsync(newcomer);
    }

    /// <summary>
    /// While a slot migrates between two primaries that own slots, the old one answers ASK for a key already moved: the
    /// read follows it (ASKING, then GET, to the new one) and gets the value, not a miss.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task KeyOfASlotMigratingBetweenPrimaries_IsReadWhereItMoved(bool synchronous)
    {
        await using var cluster = await RedisClusterServers.StartAsync();
        await using var services = Services(cluster);
        var cache = services.GetRequiredService<IDistributedCache>();
        await cache.SetStringAsync(Key, "v1");
        Assert.Equal("v1", await ReadAsync(cache, synchronous));

        var slot = HashSlot.Of(Ns + Key);
        var number = slot.ToString(CultureInfo.InvariantCulture);
        var primaries = (await RedisClusterServers.NodesAsync(cluster.Nodes[0])).Where(static n => n.IsPrimary).ToArray();
        var from = primaries.Single(p => p.Owns(slot));
        var to = primaries.First(p => p.Id != from.Id);
        Assert.StartsWith("+OK", await cluster.ServerAt(to.Port).CommandAsync("CLUSTER", "SETSLOT", number, "IMPORTING", from.Id), StringComparison.Ordinal);
        Assert.StartsWith("+OK", await cluster.ServerAt(from.Port).CommandAsync("CLUSTER", "SETSLOT", number, "MIGRATING", to.Id), StringComparison.Ordinal);
        Assert.StartsWith("+OK", await cluster.ServerAt(from.Port).CommandAsync("MIGRATE", "127.0.0.1", to.Port.ToString(CultureInfo.InvariantCulture), Ns + Key, "0", "5000"), StringComparison.Ordinal);
        Assert.StartsWith("-ASK", await cluster.ServerAt(from.Port).CommandAsync("GET", Ns + Key), StringComparison.Ordinal);

        for (var i = 0; i < 10; i++)
        {
            Assert.Equal("v1", await ReadAsync(cache, synchronous));
        }
    }

    /// <summary>
    /// A primary the application cannot reach keeps more removals than <c>Rc:PendingRemovalLimit</c>: they fold into one
    /// clear of its namespace, kept for it. One of its slots is then resharded to another primary that owns slots, with
    /// a copy of a removed entry (moved there before the removal was made, as a migration moves keys). That primary is
    /// handed the clear with the slot, whether the application learns of the move while the clear is kept (the old
    /// primary went down, and its restart makes the client read the cluster's configuration again), or once it was
    /// delivered to the old primary (which froze, and then redirects the slot's reads).
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task SlotReshardedFromAPrimaryWhoseRemovalsFoldedIntoAClear_ItsNewPrimaryServesNoneOfThem(bool frozen)
    {
        // Without full coverage, the primaries that are left serve their slots while the old one is down.
        await using var cluster = await RedisClusterServers.StartAsync(TimeSpan.FromSeconds(2), "--cluster-require-full-coverage", "no");
        await using var services = FoldingServices(cluster);
        var cache = services.GetRequiredService<IDistributedCache>();
        var (from, to, number, others) = await WriteAndCopyAsync(cluster, cache);

        // The old primary goes down, or freezes: the application's removals are kept for it, past the bound.
        if (frozen)
        {
            cluster.ServerAt(from.Port).Pause();
        }
        else
        {
            cluster.ServerAt(from.Port).Kill();
        }

        foreach (var key in others.Prepend(Key))
        {
            await cache.RemoveAsync(key);
        }

        Assert.Null(await cache.GetStringAsync(Key));

        // The slot goes to the other primary (which was importing it: it takes it with a new epoch). The old primary
        // comes back and finds it lost the slot.
        await AssignAsync(cluster.Nodes.Where(n => n.Port != from.Port), cluster.ServerAt(to.Port), number, to.Id);

        if (frozen)
        {
            cluster.ServerAt(from.Port).Resume();
        }
        else
        {
            await cluster.ServerAt(from.Port).RestartAsync();
        }

        // Once the application routes the slot to its new primary, and before, the entry is never served; the new
        // primary's copy goes with the clear it was handed.
        await Eventually.TrueAsync(async () =>
        {
            Assert.Null(await cache.GetStringAsync(Key));
            Assert.Null(cache.GetString(Key));
            return (await cluster.ServerAt(to.Port).CommandAsync("EXISTS", Ns + Key)).StartsWith(":0", StringComparison.Ordinal);
        });
        Assert.Null(await cache.GetStringAsync(Key));

        // The new primary serves the slot again.
        await ServesAgainAsync(cache, () => cache.GetStringAsync(Key));
    }

    /// <summary>
    /// The same fold while the slot migrates: once the old primary's clear is delivered, it answers ASK for the removed
    /// key, which it no longer holds, and the primary that imports the slot (and owns slots) holds a copy made before
    /// the removal. The read is not followed there: a miss.
    /// </summary>
    [Fact]
    public async Task KeyOfASlotMigratingFromAPrimaryWhoseRemovalsFoldedIntoAClear_IsNotReadWhereItWent()
    {
        await using var cluster = await RedisClusterServers.StartAsync(TimeSpan.FromSeconds(2), "--cluster-require-full-coverage", "no");
        await using var services = FoldingServices(cluster);
        var cache = services.GetRequiredService<IDistributedCache>();
        var (from, to, number, others) = await WriteAndCopyAsync(cluster, cache);
        Assert.StartsWith("+OK", await cluster.ServerAt(from.Port).CommandAsync("CLUSTER", "SETSLOT", number, "MIGRATING", to.Id), StringComparison.Ordinal);

        cluster.ServerAt(from.Port).Pause();
        try
        {
            foreach (var key in others.Prepend(Key))
            {
                await cache.RemoveAsync(key);
            }
        }
        finally
        {
            cluster.ServerAt(from.Port).Resume();
        }

        // The clear reaches the old primary, which then redirects the key to the importing one, where the copy is.
        await Eventually.TrueAsync(async () =>
        {
            Assert.Null(await cache.GetStringAsync(Key));
            Assert.Null(cache.GetString(Key));
            return (await cluster.ServerAt(from.Port).CommandAsync("GET", Ns + Key)).StartsWith("-ASK", StringComparison.Ordinal);
        });

        // Once the old primary serves again (its circuit closed), its redirection is read, and not followed.
        await Eventually.TrueAsync(async () =>
        {
            Assert.Null(await cache.GetStringAsync(Key));
            await cache.SetStringAsync(others[0], "v2");
            return await cache.GetStringAsync(others[0]) == "v2";
        });
        for (var i = 0; i < 10; i++)
        {
            Assert.Null(await cache.GetStringAsync(Key));
            Assert.Null(cache.GetString(Key));
        }

        Assert.StartsWith(":1", await cluster.ServerAt(to.Port).CommandAsync("CLUSTER", "COUNTKEYSINSLOT", number), StringComparison.Ordinal);
    }

    /// <summary>
    /// A primary hands a slot over (resharded while every server is up), and its removals fold into a clear soon after:
    /// keys that were kept for it by name before the move may be among them, so the primary that took the slot is kept
    /// the clear too. A primary that took nothing from it keeps its entries.
    /// </summary>
    [Fact]
    public async Task AClearKeptForAPrimarySoonAfterItHandedASlotOver_IsKeptForThePrimaryThatTookIt()
    {
        await using var cluster = await RedisClusterServers.StartAsync(TimeSpan.FromSeconds(2), "--cluster-require-full-coverage", "no");
        await using var services = FoldingServices(cluster);
        var cache = services.GetRequiredService<IDistributedCache>();
        var store = (RedisStore)services.GetRequiredService<CacheRegistry>().Stores[0];
        var slot = HashSlot.Of(Ns + Key);
        var number = slot.ToString(CultureInfo.InvariantCulture);
        var primaries = (await RedisClusterServers.NodesAsync(cluster.Nodes[0])).Where(static n => n.IsPrimary).ToArray();
        var from = primaries.Single(p => p.Owns(slot));
        var to = primaries.First(p => p.Id != from.Id);
        var other = primaries.Single(p => p.Id != from.Id && p.Id != to.Id);
        string KeyOf(ClusterNode owner) => Enumerable.Range(0, 1000).Select(static i => $"entry:{i}").First(k => owner.Owns(HashSlot.Of(Ns + k)) && HashSlot.Of(Ns + k) != slot);
        var (onTo, onOther) = (KeyOf(to), KeyOf(other));
        var onFrom = Enumerable.Range(0, 1000).Select(static i => $"other:{i}").Where(k => from.Owns(HashSlot.Of(Ns + k)) && HashSlot.Of(Ns + k) != slot).Take(4).ToArray();
        await WrittenAsync(cache, [.. onFrom.Append(onTo).Append(onOther)], "v1");

        // The slot (which holds no key) moves, and the application learns it from a read the old primary redirects.
        Assert.Null(await cache.GetStringAsync(Key));
        Assert.StartsWith("+OK", await cluster.ServerAt(to.Port).CommandAsync("CLUSTER", "SETSLOT", number, "IMPORTING", from.Id), StringComparison.Ordinal);
        Assert.StartsWith("+OK", await cluster.ServerAt(from.Port).CommandAsync("CLUSTER", "SETSLOT", number, "MIGRATING", to.Id), StringComparison.Ordinal);
        await AssignAsync(cluster.Nodes, cluster.ServerAt(to.Port), number, to.Id);

        await Eventually.TrueAsync(async () =>
        {
            Assert.Null(await cache.GetStringAsync(Key));
            return store.RoutedTo(Ns + Key) is IPEndPoint { Port: var port } && port == to.Port;
        });

        // The old primary freezes; the application's removals for it fold into a clear.
        cluster.ServerAt(from.Port).Pause();
        try
        {
            foreach (var key in onFrom)
            {
                await cache.RemoveAsync(key);
            }
        }
        finally
        {
            cluster.ServerAt(from.Port).Resume();
        }

        // The primary that took the slot is cleared; the one that took nothing is not.
        await Eventually.TrueAsync(async () => (await cluster.ServerAt(to.Port).CommandAsync("EXISTS", Ns + onTo)).StartsWith(":0", StringComparison.Ordinal));
        Assert.StartsWith(":1", await cluster.ServerAt(other.Port).CommandAsync("EXISTS", Ns + onOther), StringComparison.Ordinal);
        await Eventually.TrueAsync(async () => await cache.GetStringAsync(onOther) == "v1");
    }

    /// <summary>A cache whose removals kept for a server fold into a clear past two, and whose circuits open soon.</summary>
    private ServiceProvider FoldingServices(RedisClusterServers cluster) => TestServices.Build(
        o =>
        {
            (o.Store, o.Redis, o.Namespace) = (RcStoreKind.Redis, cluster.Configuration, Ns);
            o.PendingRemovalLimit = 2;
            o.OperationTimeout = TimeSpan.FromMilliseconds(500);
            o.CircuitBreakerThreshold = 3;
            o.CircuitBreakDuration = TimeSpan.FromSeconds(1);
        },
        Logged);

    /// <summary>
    /// Writes the entry and four others of its primary, then gives another primary (which owns slots) a copy of the
    /// entry while it imports the entry's slot. Returns the slot's primary, the other one, the slot, and the others' keys.
    /// </summary>
    private static async Task<(ClusterNode From, ClusterNode To, string Slot, string[] Others)> WriteAndCopyAsync(RedisClusterServers cluster, IDistributedCache cache)
    {
        var slot = HashSlot.Of(Ns + Key);
        var number = slot.ToString(CultureInfo.InvariantCulture);
        var primaries = (await RedisClusterServers.NodesAsync(cluster.Nodes[0])).Where(static n => n.IsPrimary).ToArray();
        var from = primaries.Single(p => p.Owns(slot));
        var to = primaries.First(p => p.Id != from.Id);
        var others = Enumerable.Range(0, 1000).Select(static i => $"other:{i}").Where(k => from.Owns(HashSlot.Of(Ns + k)) && HashSlot.Of(Ns + k) != slot).Take(4).ToArray();
        await WrittenAsync(cache, [.. others.Prepend(Key)], "v1");

        await CopyWhileImportingAsync(cluster.ServerAt(from.Port), from.Id, cluster.ServerAt(to.Port), number);
        return (from, to, number, others);
    }

    /// <summary>
    /// Gives <paramref name="owner"/> the slot on each of <paramref name="servers"/>, itself first, with an epoch above
    /// every other node's: a node that takes a slot it did not import keeps its epoch, and a heartbeat the old owner sent
    /// before it let the slot go (its claim with a higher epoch) would give the slot back to it on the nodes it reaches.
    /// </summary>
    private static async Task AssignAsync(IEnumerable<RedisServer> servers, RedisServer owner, string slot, string ownerId)
    {
        var bumped = await owner.CommandAsync("CLUSTER", "BUMPEPOCH");
        Assert.True(bumped.StartsWith("+BUMPED", StringComparison.Ordinal) || bumped.StartsWith("+STILL", StringComparison.Ordinal), bumped);
        foreach (var server in servers.OrderBy(s => s == owner ? 0 : 1))
        {
            Assert.StartsWith("+OK", await server.CommandAsync("CLUSTER", "SETSLOT", slot, "NODE", ownerId), StringComparison.Ordinal);
        }
    }

    /// <summary>Has <paramref name="to"/> import the entry's slot and gives it a copy of the entry (MIGRATE ... COPY leaves it on <paramref name="from"/> too).</summary>
    private static async Task CopyWhileImportingAsync(RedisServer from, string fromId, RedisServer to, string slot)
    {
        Assert.StartsWith("+OK", await to.CommandAsync("CLUSTER", "SETSLOT", slot, "IMPORTING", fromId), StringComparison.Ordinal);
        var copied = await from.CommandAsync("MIGRATE", "127.0.0.1", to.Port.ToString(CultureInfo.InvariantCulture), Ns + Key, "0", "5000", "COPY");
        Assert.True(copied.StartsWith("+OK", StringComparison.Ordinal), copied);
    }

    /// <summary>
    /// Writes <paramref name="keys"/> until all of them read back: a <see cref="FoldingServices"/> cache drops a write a
    /// slow moment of a loaded machine made time out (which may fold into a clear of others), and the set-up needs
    /// every one of its entries.
    /// </summary>
    private static Task WrittenAsync(IDistributedCache cache, string[] keys, string value) => Eventually.TrueAsync(async () =>
    {
        foreach (var key in keys)
        {
            if (await cache.GetStringAsync(key) != value)
            {
                await cache.SetStringAsync(key, value);
            }
        }

        foreach (var key in keys)
        {
            if (await cache.GetStringAsync(key) != value)
            {
                return false;
            }
        }

        return true;
    });

    /// <summary>Waits until the entry's slot is served again: a value written through the cache is what <paramref name="read"/> returns.</summary>
    private Task ServesAgainAsync(IDistributedCache cache, Func<Task<string?>> read) => Eventually.TrueAsync(
        async () =>
        {
            await cache.SetStringAsync(Key, "v2");
            return await read() == "v2";
        },
        why: () => Task.FromResult($"The store's log (its circuits, recoveries and deliveries):{Environment.NewLine}{string.Join(Environment.NewLine, _logs.Records.Select(static r => $"{r.Level} {r.Id.Name}: {r.Message} {r.Exception}"))}"));

    /// <summary>Asserts that <paramref name="server"/> holds a value for the entry, not nil.</summary>
    private static async Task AssertHoldsTheEntryAsync(RedisServer server)
    {
        var stored = await server.CommandAsync("GET", Ns + Key);
        Assert.True(stored.StartsWith('$') && !stored.StartsWith("$-1", StringComparison.Ordinal), stored);
    }

    private ServiceProvider Services(RedisClusterServers cluster, Action<RcOptions>? configure = null) =>
        TestServices.Build(
            o =>
            {
                (o.Store, o.Redis, o.Namespace) = (RcStoreKind.Redis, cluster.Configuration, Ns);
                configure?.Invoke(o);
            },
            Logged);

    private void Logged(IServiceCollection services) => services.AddLogging(b => b.AddProvider(_logs).SetMinimumLevel(LogLevel.Debug));

    private static async Task<string?> ReadAsync(IDistributedCache cache, bool synchronous) =>
        synchronous ? cache.GetString(Key) : await cache.GetStringAsync(Key);

    /// <summary>Starts a node that joins the cluster owning no slot, and waits until every node knows it and it finds the cluster ok.</summary>
    private static async Task<RedisServer> StartNewcomerAsync(RedisClusterServers cluster)
    {
        var newcomer = await RedisServer.StartAsync("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000");
        try
        {
            Assert.StartsWith("+OK", await newcomer.CommandAsync("CLUSTER", "MEET", "127.0.0.1", cluster.Nodes[0].Port.ToString(CultureInfo.InvariantCulture)), StringComparison.Ordinal);
            var servers = cluster.Nodes.Append(newcomer).ToArray();
            await Eventually.TrueAsync(async () =>
                (await Task.WhenAll(servers.Select(RedisClusterServers.NodesAsync))).All(view => view.Count == servers.Length && view.All(static n => n.IsLinked)) &&
                await RedisClusterServers.IsOkAsync(newcomer));
            return newcomer;
        }
        catch
        {
            await newcomer.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Writes the entry, gives the newcomer a copy of it while it imports the entry's slot (MIGRATE ... COPY leaves it on
    /// its primary too), then removes it through the cache (by key, or with <paramref name="remove"/>): its primary
    /// acknowledges the delete, which the newcomer never gets. Returns the slot's primary, the newcomer, and the slot.
    /// </summary>
    private static async Task<(ClusterNode From, ClusterNode To, string Slot)> RemoveWhileTheNewcomerKeepsACopyAsync(RedisClusterServers cluster, RedisServer newcomer, IDistributedCache cache, bool synchronous, Func<Task>? remove = null)
    {
        await cache.SetStringAsync(Key, "v1");
        Assert.Equal("v1", await ReadAsync(cache, synchronous));

        var slot = HashSlot.Of(Ns + Key);
        var number = slot.ToString(CultureInfo.InvariantCulture);
        var nodes = await RedisClusterServers.NodesAsync(cluster.Nodes[0]);
        var from = nodes.Single(n => n.Owns(slot));
        var to = nodes.Single(n => n.Port == newcomer.Port);
        await CopyWhileImportingAsync(cluster.ServerAt(from.Port), from.Id, newcomer, number);

        await (remove is null ? cache.RemoveAsync(Key) : remove());
        Assert.Null(await ReadAsync(cache, synchronous));
        return (from, to, number);
    }
}
