using System.Diagnostics;

namespace RcAspNet.Tests.Infrastructure;

/// <summary>A real three-master Redis Cluster made with redis-cli --cluster create.</summary>
public sealed class RedisClusterServers : IAsyncDisposable
{
    private RedisClusterServers(RedisServer[] nodes) => Nodes = nodes;

    public IReadOnlyList<RedisServer> Nodes { get; }

    public string Configuration => string.Join(",", Nodes.Select(static n => n.EndPoint));

    public static async Task<RedisClusterServers> StartAsync()
    {
        var nodes = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => RedisServer.StartAsync("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000")));
        var info = new ProcessStartInfo("redis-cli") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "--cluster", "create" }.Concat(nodes.Select(static n => n.EndPoint)).Concat(["--cluster-replicas", "0", "--cluster-yes"]))
        {
            info.ArgumentList.Add(arg);
        }

        using (var create = Process.Start(info)!)
        {
            var output = await create.StandardOutput.ReadToEndAsync();
            await create.WaitForExitAsync();
            if (create.ExitCode != 0)
            {
                throw new InvalidOperationException("redis-cli --cluster create failed: " + output + await create.StandardError.ReadToEndAsync());
            }
        }

        for (var attempt = 0; attempt < 200; attempt++)
        {
            var states = await Task.WhenAll(nodes.Select(static n => n.CommandAsync("CLUSTER", "INFO")));
            if (states.All(static s => s.Contains("cluster_state:ok", StringComparison.Ordinal)))
            {
                return new RedisClusterServers(nodes);
            }

            await Task.Delay(50);
        }

        throw new TimeoutException("The Redis Cluster did not reach cluster_state:ok.");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in Nodes)
        {
            await node.DisposeAsync();
        }
    }
}
