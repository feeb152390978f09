using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace RcAspNet.Benchmarks.Coherence;

/// <summary>
/// A Redis Cluster of three primaries of the tool's own, on free loopback ports, made as the tests make theirs:
/// cluster-enabled redis-server processes without persistence, <c>redis-cli --cluster create</c>, then a wait until every
/// node reports <c>cluster_state:ok</c>. The processes stop on dispose, or when the tool exits.
/// </summary>
internal sealed class RedisCluster : IDisposable
{
    private const int Primaries = 3;
    private static readonly TimeSpan ReadyDeadline = TimeSpan.FromSeconds(30);

    private readonly string _directory = Directory.CreateTempSubdirectory("rc-coherence-cluster-").FullName;
    private readonly List<Process> _processes = [];
    private readonly List<int> _ports = [];

    private RedisCluster() => AppDomain.CurrentDomain.ProcessExit += (_, _) => Dispose();

    /// <summary>Gets the nodes as a client configuration string, <c>127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3</c>.</summary>
    public string Configuration => string.Join(",", EndPoints);

    private IEnumerable<string> EndPoints => _ports.Select(static p => $"127.0.0.1:{p.ToString(CultureInfo.InvariantCulture)}");

    public static async Task<RedisCluster> StartAsync()
    {
        var cluster = new RedisCluster();
        try
        {
            for (var i = 0; i < Primaries; i++)
            {
                cluster.StartNode();
            }

            await cluster.UntilEveryNodeAsync("PING", "PONG");
            await RedisCliAsync(["--cluster", "create", .. cluster.EndPoints, "--cluster-yes"]);
            await cluster.UntilEveryNodeAsync("CLUSTER INFO", "cluster_state:ok");
            return cluster;
        }
        catch
        {
            cluster.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        lock (_processes)
        {
            foreach (var process in _processes)
            {
                try
                {
                    if (!process.HasExited)
                    {
                        process.Kill();
                        process.WaitForExit(5000);
                    }
                }
                catch (InvalidOperationException)
                {
                }

                process.Dispose();
            }

            _processes.Clear();
        }

        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private void StartNode()
    {
        var port = FreePort();
        var directory = Directory.CreateDirectory(Path.Combine(_directory, port.ToString(CultureInfo.InvariantCulture))).FullName;
        var info = new ProcessStartInfo("redis-server") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = directory };
        foreach (var arg in new[]
        {
            "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--dir", directory,
            "--cluster-enabled", "yes", "--cluster-config-file", Path.Combine(directory, "nodes.conf"), "--save", "", "--appendonly", "no",
        })
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info)!;
        process.OutputDataReceived += static (_, _) => { };
        process.ErrorDataReceived += static (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        lock (_processes)
        {
            _processes.Add(process);
        }

        _ports.Add(port);
    }

    /// <summary>Sends <paramref name="command"/> to every node with redis-cli until each answer contains <paramref name="expected"/>.</summary>
    private async Task UntilEveryNodeAsync(string command, string expected)
    {
        var waited = Stopwatch.StartNew();
        foreach (var port in _ports)
        {
            string[] args = ["-p", port.ToString(CultureInfo.InvariantCulture), .. command.Split(' ')];
            while (!(await RedisCliAsync(args, throwOnError: false)).Contains(expected, StringComparison.Ordinal))
            {
                if (waited.Elapsed > ReadyDeadline)
                {
                    throw new TimeoutException($"Redis Cluster node 127.0.0.1:{port} did not answer {command} with {expected} within {ReadyDeadline.TotalSeconds} s.");
                }

                await Task.Delay(50);
            }
        }
    }

    private static async Task<string> RedisCliAsync(string[] args, bool throwOnError = true)
    {
        var info = new ProcessStartInfo("redis-cli") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (throwOnError && process.ExitCode != 0)
        {
            throw new InvalidOperationException($"redis-cli {string.Join(' ', args.Take(2))} failed with code {process.ExitCode}: {await output}{await error}");
        }

        return await output;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
