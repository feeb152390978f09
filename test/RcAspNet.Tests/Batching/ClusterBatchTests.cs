using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Batching;

/// <summary>
/// IRcBatch on a Redis Cluster that each test starts for itself, so that every node's INFO commandstats counts only
/// that test's commands: a flush costs one MGET per hash-slot group, on the node that owns the slot.
/// </summary>
public sealed class ClusterBatchTests : IAsyncLifetime
{
    private RedisClusterServers? _cluster;
    private ServiceProvider? _services;

    public sealed record Post(int Id, string Title);

    private RedisClusterServers Cluster => _cluster!;

    private IRcCache Cache => _services!.GetRequiredService<IRcCache>();

    public async Task InitializeAsync()
    {
        _cluster = await RedisClusterServers.StartAsync();
        _services = TestServices.Build(o =>
        {
            o.Store = RcStoreKind.Redis;
            o.Redis = _cluster.Configuration;
            o.Namespace = SharedRedis.UniqueNamespace();

            // A store failure must fail the test, not pass for a miss; a loaded machine must not cause one.
            o.FailureMode = RcFailureMode.Throw;
            o.OperationTimeout = TimeSpan.FromSeconds(10);
        });
    }

    public async Task DisposeAsync()
    {
        if (_services is not null)
        {
            await _services.DisposeAsync();
        }

        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }

    /// <summary>Stores a post under each key, then clears every node's counters: what follows is the flush's alone.</summary>
    private async Task WarmAsync(IReadOnlyList<string> keys)
    {
        await Cache.SetManyAsync(keys.Select(static (k, i) => new KeyValuePair<string, Post>(k, new Post(i, k))).ToArray());
        foreach (var node in Cluster.Nodes)
        {
            await node.ResetStatsAsync();
        }
    }

    /// <summary>Queues a lookup of each key (a loader that must not run, since the keys are warm), flushes, and checks the answers.</summary>
    private async Task FlushWarmAsync(IReadOnlyList<string> keys)
    {
        await using var scope = _services!.CreateAsyncScope();
        var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
        var loads = 0;
        var promises = keys.Select(k => batch.Load(k, _ =>
        {
            Interlocked.Increment(ref loads);
            return ValueTask.FromResult(new Post(-1, "loaded"));
        })).ToArray();
        await batch.FlushAsync();
        Assert.Equal(keys.Select(static (k, i) => new Post(i, k)), promises.Select(static p => p.Value));
        Assert.Equal(0, loads);
    }

    /// <summary>The hash slot of a key without namespace, as the cluster itself computes it.</summary>
    private async Task<int> SlotAsync(string key) =>
        int.Parse((await Cluster.Nodes[0].CommandAsync("CLUSTER", "KEYSLOT", Cache.Namespace + key)).Trim(':', '\r', '\n'), CultureInfo.InvariantCulture);

    /// <summary>The node that owns <paramref name="slot"/>: the one that holds keys in it (the keys are warm).</summary>
    private async Task<RedisServer> OwnerAsync(int slot)
    {
        foreach (var node in Cluster.Nodes)
        {
            var count = await node.CommandAsync("CLUSTER", "COUNTKEYSINSLOT", slot.ToString(CultureInfo.InvariantCulture));
            if (count.Trim(':', '\r', '\n') != "0")
            {
                return node;
            }
        }

        throw new InvalidOperationException($"No node holds a key in slot {slot}.");
    }

    private static async Task<long> CallsAsync(RedisServer node, params string[] commands)
    {
        var stats = await node.CommandStatsAsync();
        return commands.Sum(c => stats.GetValueOrDefault(c));
    }

    /// <summary>Checks that each node ran one MGET per distinct slot of <paramref name="keys"/> that it owns, and returns the total.</summary>
    private async Task<long> AssertOneMgetPerSlotAsync(IReadOnlyList<string> keys)
    {
        var slots = new HashSet<int>();
        foreach (var key in keys)
        {
            slots.Add(await SlotAsync(key));
        }

        var expected = Cluster.Nodes.ToDictionary(static n => n.Port, static _ => 0);
        foreach (var slot in slots)
        {
            expected[(await OwnerAsync(slot)).Port]++;
        }

        long total = 0;
        foreach (var node in Cluster.Nodes)
        {
            var mgets = await CallsAsync(node, "mget");
            Assert.True(expected[node.Port] == mgets, $"The node on port {node.Port} owns {expected[node.Port]} of the flush's slots and ran {mgets} MGET.");
            total += mgets;
        }

        Assert.Equal(slots.Count, total);
        return total;
    }

    [Fact]
    public async Task Flush_HashTaggedKeys_OneMgetPerSlotGroup()
    {
        string[] keys = ["{a}x", "{a}y", "{b}z"];
        await WarmAsync(keys);
        await FlushWarmAsync(keys);
        Assert.Equal(2, await AssertOneMgetPerSlotAsync(keys));
    }

    [Fact]
    public async Task Flush_UntaggedKeys_OneMgetPerDistinctSlot()
    {
        var keys = Enumerable.Range(1, 12).Select(static i => $"post:{i}").ToArray();
        await WarmAsync(keys);
        await FlushWarmAsync(keys);

        // More slots than nodes: a node that owns several slots of the flush runs an MGET for each of them.
        Assert.True(await AssertOneMgetPerSlotAsync(keys) > Cluster.Nodes.Count);
    }

    [Fact]
    public async Task Flush_Warm_RunsNoGetAndNoSet()
    {
        var keys = Enumerable.Range(1, 12).Select(static i => $"post:{i}").Append("{a}x").Append("{a}y").ToArray();
        await WarmAsync(keys);
        await FlushWarmAsync(keys);
        foreach (var node in Cluster.Nodes)
        {
            Assert.Equal(0, await CallsAsync(node, "get", "getex", "set", "setex", "psetex", "mset", "msetnx"));
        }
    }

    [Fact]
    public async Task Flush_AsTheStoresFirstCall_LoadsAndStoresEveryKey()
    {
        // Before it has connected, the store does not know it reaches a cluster: the keys of this flush span slots
        // of every node all the same.
        var keys = Enumerable.Range(1, 12).Select(static i => $"post:{i}").ToArray();
        await using (var scope = _services!.CreateAsyncScope())
        {
            var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
            var promises = keys.Select((k, i) => batch.Load(k, _ => ValueTask.FromResult(new Post(i, k)))).ToArray();
            await batch.FlushAsync();
            Assert.Equal(keys.Select(static (k, i) => new Post(i, k)), promises.Select(static p => p.Value));
        }

        await FlushWarmAsync(keys);
    }

    [Fact]
    public async Task DeleteMany_AsTheStoresFirstCall_RemovesEveryKey()
    {
        var keys = Enumerable.Range(1, 12).Select(static i => $"post:{i}").ToArray();
        foreach (var key in keys)
        {
            Assert.Equal("+OK\r\n", await NodeOf(key).CommandAsync("SET", Cache.Namespace + key, "x"));
        }

        Assert.Equal(new RcRemovalResult(keys.Length, 0), await Cache.DeleteManyAsync(keys));
    }

    /// <summary>The node that owns the slot of <paramref name="key"/>, from the MOVED reply of another node if need be.</summary>
    private RedisServer NodeOf(string key)
    {
        var reply = Cluster.Nodes[0].CommandAsync("GET", Cache.Namespace + key).GetAwaiter().GetResult();
        return reply.StartsWith("-MOVED ", StringComparison.Ordinal)
            ? Cluster.ServerAt(int.Parse(reply.Trim()[(reply.LastIndexOf(':') + 1)..], CultureInfo.InvariantCulture))
            : Cluster.Nodes[0];
    }
}
