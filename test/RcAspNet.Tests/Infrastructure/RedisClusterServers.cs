using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;

namespace RcAspNet.Tests.Infrastructure;

/// <summary>
/// A real Redis Cluster of three primaries made with redis-cli --cluster create: alone (what SharedRedis uses), or
/// each with a replica, as operators run it, so that the cluster replaces a primary that fails.
/// </summary>
public sealed class RedisClusterServers : IAsyncDisposable
{
    private const int Primaries = 3;
    private static readonly TimeSpan ReadyDeadline = TimeSpan.FromSeconds(30);

    private RedisClusterServers(RedisServer[] nodes, RedisSecurity? security)
    {
        Nodes = nodes;
        Security = security;
    }

    public IReadOnlyList<RedisServer> Nodes { get; }

    public string Configuration => string.Join(",", Nodes.Select(static n => n.EndPoint));

    /// <summary>Gets what every node requires of its clients; null for nothing.</summary>
    public RedisSecurity? Security { get; }

    /// <summary>Starts three primaries without replicas and waits for cluster_state:ok.</summary>
    public static Task<RedisClusterServers> StartAsync() => CreateAsync(0, TimeSpan.FromSeconds(2), null);

    /// <summary>Starts three primaries without replicas, each requiring what <paramref name="security"/> says (the cluster bus needs nothing).</summary>
    public static Task<RedisClusterServers> StartAsync(RedisSecurity security) => CreateAsync(0, TimeSpan.FromSeconds(2), security);

    /// <summary>Starts three primaries without replicas, which the others count as failed after <paramref name="nodeTimeout"/> without an answer.</summary>
    public static Task<RedisClusterServers> StartAsync(TimeSpan nodeTimeout, params string[] extraArgs) => CreateAsync(0, nodeTimeout, null, extraArgs);

    /// <summary>
    /// Starts three primaries, each with one replica, and waits until every node reports cluster_state:ok and every
    /// primary has its replica online. A primary that answers no one for <paramref name="nodeTimeout"/> is failed
    /// over to its replica: about two node timeouts after it stops, with a node timeout of a second.
    /// </summary>
    public static Task<RedisClusterServers> StartWithReplicasAsync(TimeSpan nodeTimeout) => CreateAsync(1, nodeTimeout, null);

    /// <summary>The node listening on <paramref name="port"/>.</summary>
    public RedisServer ServerAt(int port) => Nodes.Single(n => n.Port == port);

    /// <summary>CLUSTER NODES as <paramref name="server"/> sees the cluster.</summary>
    public static async Task<IReadOnlyList<ClusterNode>> NodesAsync(RedisServer server) =>
        ClusterNode.ParseAll(await server.CommandAsync("CLUSTER", "NODES"));

    /// <summary>Whether <paramref name="server"/> reports cluster_state:ok (false if it does not answer).</summary>
    public static async Task<bool> IsOkAsync(RedisServer server)
    {
        try
        {
            return (await server.CommandAsync("CLUSTER", "INFO")).Contains("cluster_state:ok", StringComparison.Ordinal);
        }
        catch (Exception ex) when (ex is SocketException or IOException)
        {
            return false;
        }
    }

    /// <summary>
    /// Moves <paramref name="slots"/> hash slots, with their keys, from one primary to another with
    /// <c>redis-cli --cluster reshard</c>, as an operator would; returns when the move is done.
    /// </summary>
    public async Task ReshardAsync(ClusterNode from, ClusterNode to, int slots) =>
        await RunRedisCliAsync(
            Security,
            "--cluster", "reshard", ServerAt(to.Port).EndPoint,
            "--cluster-from", from.Id,
            "--cluster-to", to.Id,
            "--cluster-slots", slots.ToString(CultureInfo.InvariantCulture),
            "--cluster-yes");

    public async ValueTask DisposeAsync()
    {
        foreach (var node in Nodes)
        {
            await node.DisposeAsync();
        }
    }

    private static async Task<RedisClusterServers> CreateAsync(int replicas, TimeSpan nodeTimeout, RedisSecurity? security, params string[] extraArgs)
    {
        var timeout = ((long)nodeTimeout.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
        var nodes = await RedisServer.StartManyAsync(
            Primaries * (1 + replicas), security, ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", timeout, .. extraArgs]);
        var cluster = new RedisClusterServers(nodes, security);
        try
        {
            await RunRedisCliAsync(security, [
                "--cluster", "create", .. nodes.Select(static n => n.EndPoint), "--cluster-replicas", replicas.ToString(CultureInfo.InvariantCulture), "--cluster-yes"]);
            var ready = Stopwatch.StartNew();
            while (!await cluster.IsReadyAsync(replicas))
            {
                if (ready.Elapsed > ReadyDeadline)
                {
                    throw new TimeoutException($"The Redis Cluster did not reach cluster_state:ok with {replicas} replica(s) online per primary within {ReadyDeadline.TotalSeconds} s.");
                }

                await Task.Delay(50);
            }

            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Every node reports cluster_state:ok and sees all nodes, none failing: three primaries serving all slots, each
    /// followed by <paramref name="replicas"/> linked replicas; each primary counts its replicas online.
    /// </summary>
    private async Task<bool> IsReadyAsync(int replicas)
    {
        foreach (var server in Nodes)
        {
            if (!await IsOkAsync(server))
            {
                return false;
            }

            var view = await NodesAsync(server);
            var primaries = view.Where(static n => n.IsPrimary).ToArray();
            if (view.Count != Nodes.Count || view.Any(static n => n.IsFailing || !n.IsLinked) || primaries.Length != Primaries ||
                primaries.Sum(static p => p.SlotCount) != 16384 ||
                primaries.Any(p => view.Count(n => n.PrimaryId == p.Id) != replicas))
            {
                return false;
            }
        }

        foreach (var primary in (await NodesAsync(Nodes[0])).Where(static n => n.IsPrimary))
        {
            var replication = await ServerAt(primary.Port).CommandAsync("INFO", "replication");
            var online = replication.Split('\n').Count(static l => l.StartsWith("slave", StringComparison.Ordinal) && l.Contains("state=online", StringComparison.Ordinal));
            if (online != replicas)
            {
                return false;
            }
        }

        return true;
    }

    private static async Task<string> RunRedisCliAsync(RedisSecurity? security, params string[] args)
    {
        var info = new ProcessStartInfo("redis-cli") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in (security?.CliArgs() ?? []).Concat(args))
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"redis-cli {string.Join(' ', args.Take(2))} failed with code {process.ExitCode}: {await output}{await error}");
        }

        return await output;
    }
}
