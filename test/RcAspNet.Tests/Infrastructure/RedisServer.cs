using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace RcAspNet.Tests.Infrastructure;

/// <summary>
/// A real redis-server process on a free loopback port, stopped on dispose (or when the test run ends); with a
/// <see cref="RedisSecurity"/>, one that requires a password, an ACL user or TLS, as managed Redis does.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private static readonly List<Process> Running = [];
    private static readonly int EphemeralPortsStart = ReadEphemeralPortsStart();
    private static int clusterPortCursor = Random.Shared.Next(10_000);
    private readonly Queue<string> _output = new();
    private readonly string[] _extraArgs;
    private readonly string _directory;
    private Process _process;

    static RedisServer() => AppDomain.CurrentDomain.ProcessExit += (_, _) =>
    {
        lock (Running)
        {
            foreach (var process in Running)
            {
                try
                {
                    process.Kill();
                }
                catch (InvalidOperationException)
                {
                }
            }
        }
    };

    private RedisServer(int port, RedisSecurity? security, string[] extraArgs)
    {
        Port = port;
        Security = security;
        _extraArgs = extraArgs;
        _directory = Directory.CreateTempSubdirectory("rc-redis-").FullName;
        _process = Launch();
    }

    /// <summary>Gets the port: the TLS port of a server that requires TLS (it then listens on no other).</summary>
    public int Port { get; }

    /// <summary>Gets what the server requires of its clients; null for nothing.</summary>
    public RedisSecurity? Security { get; }

    public string EndPoint => $"127.0.0.1:{Port}";

    /// <summary>
    /// Starts a server on a free port and waits until it answers PING. A port can be taken between choosing it and
    /// redis-server binding it (a cluster node also binds its bus at port + 10000), so a server that exits while
    /// starting is started again on another port.
    /// </summary>
    public static Task<RedisServer> StartAsync(params string[] extraArgs) => StartAsync(null, extraArgs);

    /// <summary>Starts a server that requires what <paramref name="security"/> says, as <see cref="StartAsync(string[])"/> does.</summary>
    public static async Task<RedisServer> StartAsync(RedisSecurity? security, params string[] extraArgs)
    {
        var cluster = extraArgs.Contains("--cluster-enabled");
        for (var attempt = 1; ; attempt++)
        {
            var server = new RedisServer(cluster ? FreeClusterPort() : FreePort(), security, extraArgs);
            if (await server.TryWaitUntilUpAsync())
            {
                return server;
            }

            var exit = server.ExitReport();
            await server.DisposeAsync();
            if (attempt == 5)
            {
                throw new InvalidOperationException($"redis-server exited while starting, {attempt} times; the last time: {exit}");
            }
        }
    }

    /// <summary>Starts <paramref name="count"/> servers at once, each as <see cref="StartAsync"/> does.</summary>
    public static Task<RedisServer[]> StartManyAsync(int count, params string[] extraArgs) => StartManyAsync(count, null, extraArgs);

    /// <summary>Starts <paramref name="count"/> servers at once that require what <paramref name="security"/> says.</summary>
    public static Task<RedisServer[]> StartManyAsync(int count, RedisSecurity? security, params string[] extraArgs) =>
        Task.WhenAll(Enumerable.Range(0, count).Select(_ => StartAsync(security, extraArgs)));

    /// <summary>Starts a server on <paramref name="port"/> (one from <see cref="FreePort"/>, say) and waits until it answers PING.</summary>
    public static async Task<RedisServer> StartOnAsync(int port, params string[] extraArgs)
    {
        var server = new RedisServer(port, null, extraArgs);
        try
        {
            await server.WaitUntilUpAsync();
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Sends one command and returns the raw RESP reply, for assertions made by Redis itself (INFO commandstats). On a
    /// secured server it first authenticates, over TLS validated against the test's own authority.
    /// </summary>
    public async Task<string> CommandAsync(params string[] args)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, Port);
        await using var stream = await OpenAsync(client.GetStream());
        if (Security?.Password is { } password)
        {
            var auth = await SendAsync(stream, Security.User is { } user ? ["AUTH", user, password] : ["AUTH", password]);
            if (!auth.StartsWith('+'))
            {
                throw new InvalidOperationException($"The server on port {Port} refused the harness's credentials: {auth}");
            }
        }

        return await SendAsync(stream, args);
    }

    /// <summary>How many times each command ran since the last reset, from INFO commandstats, without this harness's own INFO and CONFIG RESETSTAT.</summary>
    public async Task<Dictionary<string, long>> CommandStatsAsync()
    {
        var info = await CommandAsync("INFO", "commandstats");
        var stats = new Dictionary<string, long>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in info.Split('\n'))
        {
            // cmdstat_get:calls=3,usec=...
            if (line.StartsWith("cmdstat_", StringComparison.Ordinal))
            {
                var name = line["cmdstat_".Length..line.IndexOf(':', StringComparison.Ordinal)];
                var calls = line[(line.IndexOf("calls=", StringComparison.Ordinal) + 6)..];
                if (name is not "info" and not "config|resetstat")
                {
                    stats[name] = long.Parse(calls[..calls.IndexOf(',', StringComparison.Ordinal)], CultureInfo.InvariantCulture);
                }
            }
        }

        return stats;
    }

    public Task ResetStatsAsync() => CommandAsync("CONFIG", "RESETSTAT");

    /// <summary>Kills the process, as a crash would.</summary>
    public void Kill()
    {
        _process.Kill();
        _process.WaitForExit();
    }

    /// <summary>Starts the process again on the same port (empty: it saves nothing).</summary>
    public async Task RestartAsync()
    {
        if (!_process.HasExited)
        {
            Kill();
        }

        _process = Launch();
        await WaitUntilUpAsync();
    }

    /// <summary>Freezes the process (SIGSTOP), as a hung server would be: connections stay open, nothing answers.</summary>
    public void Pause() => Signal("STOP");

    public void Resume() => Signal("CONT");

    public ValueTask DisposeAsync()
    {
        try
        {
            Resume();
            Kill();
        }
        catch (InvalidOperationException)
        {
        }

        lock (Running)
        {
            Running.Remove(_process);
        }

        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }

        return ValueTask.CompletedTask;
    }

    private Process Launch()
    {
        var info = new ProcessStartInfo("redis-server")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = _directory,
        };
        var listen = Security?.ServerArgs(Port) ?? ["--port", Port.ToString(CultureInfo.InvariantCulture)];
        foreach (var arg in listen.Concat(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", _directory]).Concat(_extraArgs))
        {
            info.ArgumentList.Add(arg);
        }

        Process process;
        try
        {
            process = Process.Start(info)!;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException("redis-server is not installed: the tests and benchmarks need it (apt-get install -y redis-server; .ci/run does this).", ex);
        }

        process.OutputDataReceived += Keep;
        process.ErrorDataReceived += Keep;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        lock (Running)
        {
            Running.Add(process);
        }

        return process;
    }

    /// <summary>Keeps the last lines redis-server wrote, for the message when it exits while starting.</summary>
    private void Keep(object sender, DataReceivedEventArgs e)
    {
        if (e.Data is null)
        {
            return;
        }

        lock (_output)
        {
            _output.Enqueue(e.Data);
            if (_output.Count > 5)
            {
                _output.Dequeue();
            }
        }
    }

    private static async Task<string> SendAsync(Stream stream, string[] args)
    {
        var request = new StringBuilder().Append('*').Append(args.Length).Append("\r\n");
        foreach (var arg in args)
        {
            request.Append('$').Append(Encoding.UTF8.GetByteCount(arg)).Append("\r\n").Append(arg).Append("\r\n");
        }

        await stream.WriteAsync(Encoding.UTF8.GetBytes(request.ToString()));
        return await ReadReplyAsync(stream);
    }

    /// <summary>The stream to talk over: TLS that trusts only the test's authority and checks its host name, when the server requires TLS.</summary>
    private async Task<Stream> OpenAsync(NetworkStream network)
    {
        if (Security?.Tls is not { } tls)
        {
            return network;
        }

        var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
        policy.CustomTrustStore.Add(tls.LoadAuthority());
        var stream = new SslStream(network, leaveInnerStreamOpen: false);
        await stream.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = tls.HostName, CertificateChainPolicy = policy });
        return stream;
    }

    private async Task WaitUntilUpAsync()
    {
        if (!await TryWaitUntilUpAsync())
        {
            throw new InvalidOperationException(ExitReport());
        }
    }

    /// <summary>
    /// Waits until this process answers on the port; false if it exits first. The answer must name this process: two
    /// servers started at once can be given the same free port, and then the one that lost the bind exits while the
    /// other answers for it.
    /// </summary>
    private async Task<bool> TryWaitUntilUpAsync()
    {
        var ours = $"process_id:{_process.Id.ToString(CultureInfo.InvariantCulture)}\r\n";
        for (var attempt = 0; attempt < 200; attempt++)
        {
            try
            {
                if ((await CommandAsync("INFO", "server")).Contains(ours, StringComparison.Ordinal))
                {
                    return true;
                }
            }
            catch (Exception ex) when (ex is SocketException or IOException)
            {
                // Refused before it listens; reset when it exits after listening (a cluster node whose bus port is taken).
            }

            if (_process.HasExited)
            {
                return false;
            }

            await Task.Delay(25);
        }

        throw new TimeoutException($"redis-server on port {Port} did not answer PING.");
    }

    private string ExitReport()
    {
        _process.WaitForExit();
        lock (_output)
        {
            return $"redis-server on port {Port} exited with code {_process.ExitCode}: {string.Join(" | ", _output)}";
        }
    }

    private void Signal(string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, _process.Id.ToString(CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    /// <summary>A loopback port nothing listens on now.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>
    /// A port for a cluster node, free with its bus port (port + 10000), both below the kernel's ephemeral range so that
    /// no socket bound to port 0 or connecting out can take them before the node binds them.
    /// </summary>
    public static int FreeClusterPort()
    {
        var lowest = EphemeralPortsStart - 20_000;
        while (true)
        {
            var port = lowest + (int)((uint)Interlocked.Increment(ref clusterPortCursor) % 10_000);
            if (IsFree(port) && IsFree(port + 10_000))
            {
                return port;
            }
        }
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static int ReadEphemeralPortsStart()
    {
        try
        {
            return int.Parse(File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries)[0], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return 32_768;
        }
    }

    private static async Task<string> ReadReplyAsync(Stream stream)
    {
        var buffer = new byte[64 * 1024];
        var text = new StringBuilder();
        do
        {
            var read = await stream.ReadAsync(buffer);
            if (read == 0)
            {
                break;
            }

            text.Append(Encoding.UTF8.GetString(buffer, 0, read));
        }
        while (!IsComplete(text.ToString()));

        return text.ToString();
    }

    private static bool IsComplete(string reply)
    {
        if (reply.Length == 0 || !reply.EndsWith("\r\n", StringComparison.Ordinal))
        {
            return false;
        }

        if (reply[0] != '$')
        {
            return true;
        }

        var header = reply.IndexOf("\r\n", StringComparison.Ordinal);
        var length = int.Parse(reply[1..header], CultureInfo.InvariantCulture);
        return length < 0 || Encoding.UTF8.GetByteCount(reply) >= header + 2 + length + 2;
    }
}
