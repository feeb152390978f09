using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace RcAspNet.Benchmarks.Infrastructure;

/// <summary>
/// A redis-server process of the benchmark's own on a free loopback port: no persistence, stopped on dispose, or when
/// the benchmark process exits. The same launch line as the tests' servers.
/// </summary>
internal sealed class RedisServer : IDisposable
{
    private static readonly List<Process> Running = [];
    private readonly string _directory;
    private readonly Process _process;

    static RedisServer() => AppDomain.CurrentDomain.ProcessExit += (_, _) =>
    {
        lock (Running)
        {
            foreach (var process in Running)
            {
                Stop(process);
            }
        }
    };

    private RedisServer(int port)
    {
        Port = port;
        _directory = Directory.CreateTempSubdirectory("rc-bench-redis-").FullName;
        var info = new ProcessStartInfo("redis-server")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = _directory,
        };
        foreach (var arg in new[] { "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", _directory })
        {
            info.ArgumentList.Add(arg);
        }

        try
        {
            _process = Process.Start(info)!;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException("redis-server is not installed: the benchmarks need it (apt-get install -y redis-server).", ex);
        }

        _process.OutputDataReceived += static (_, _) => { };
        _process.ErrorDataReceived += static (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        lock (Running)
        {
            Running.Add(_process);
        }
    }

    public int Port { get; }

    public string EndPoint => $"127.0.0.1:{Port}";

    /// <summary>Starts a server and waits until it answers PING.</summary>
    public static async Task<RedisServer> StartAsync()
    {
        var server = new RedisServer(FreePort());
        try
        {
            await server.WaitUntilUpAsync();
            return server;
        }
        catch
        {
            server.Dispose();
            throw;
        }
    }

    /// <summary>Starts <paramref name="count"/> servers at once.</summary>
    public static async Task<RedisServer[]> StartManyAsync(int count) =>
        await Task.WhenAll(Enumerable.Range(0, count).Select(_ => StartAsync()));

    public void Dispose()
    {
        Stop(_process);
        lock (Running)
        {
            Running.Remove(_process);
        }

        _process.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static void Stop(Process process)
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
    }

    private async Task WaitUntilUpAsync()
    {
        for (var attempt = 0; attempt < 200; attempt++)
        {
            try
            {
                if (await PingAsync())
                {
                    return;
                }
            }
            catch (SocketException)
            {
            }
            catch (IOException)
            {
            }

            if (_process.HasExited)
            {
                throw new InvalidOperationException($"redis-server on port {Port} exited with code {_process.ExitCode}.");
            }

            await Task.Delay(25);
        }

        throw new TimeoutException($"redis-server on port {Port} did not answer PING.");
    }

    private async Task<bool> PingAsync()
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, Port);
        var stream = client.GetStream();
        await stream.WriteAsync("*1\r\n$4\r\nPING\r\n"u8.ToArray());
        var buffer = new byte[64];
        var read = await stream.ReadAsync(buffer);
        return Encoding.ASCII.GetString(buffer, 0, read).Contains("PONG", StringComparison.Ordinal);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
