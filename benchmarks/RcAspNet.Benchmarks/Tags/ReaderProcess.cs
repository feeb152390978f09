using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;

namespace RcAspNet.Benchmarks.Tags;

/// <summary>
/// Another client of the server in a process of its own (<c>tags-reader host:port</c>): on one thread, a GET of the key
/// <c>other</c>, written to a plain socket and read back, then the next, as long as the process lives. Each line
/// <c>report</c> on its standard input is answered with the slowest GET since the last report, in microseconds, and how
/// many there were. It shares neither the garbage collector, the thread pool nor the Redis client with the process that
/// invalidates, so what it waits for is the server and the machine's scheduling.
/// </summary>
internal sealed class ReaderProcess : IAsyncDisposable
{
    private static readonly byte[] Request = "*2\r\n$3\r\nGET\r\n$5\r\nother\r\n"u8.ToArray();
    private static readonly byte[] Reply = "$5\r\nvalue\r\n"u8.ToArray();

    private readonly Process _process;

    private ReaderProcess(Process process) => _process = process;

    /// <summary>Starts a reader of <c>other</c> (which must hold <c>value</c>) on <paramref name="endPoint"/>; returns once it is connected.</summary>
    public static async Task<ReaderProcess> StartAsync(string endPoint)
    {
        var host = Environment.ProcessPath ?? throw new InvalidOperationException("The benchmarks' own executable is not known.");
        var start = new ProcessStartInfo(host) { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(host) == "dotnet")
        {
            start.ArgumentList.Add(typeof(ReaderProcess).Assembly.Location);
        }

        // Under dotnet-trace this process waits on a diagnostic port until the tracer resumes it: the reader, which no
        // tracer resumes, must not inherit that.
        start.Environment.Remove("DOTNET_DiagnosticPorts");
        start.ArgumentList.Add("tags-reader");
        start.ArgumentList.Add(endPoint);
        var reader = new ReaderProcess(Process.Start(start) ?? throw new InvalidOperationException("The reader process did not start."));
        await reader.ReportAsync();
        return reader;
    }

    /// <summary>The slowest GET since the last report, and how many GETs there were.</summary>
    public async Task<(TimeSpan Worst, long Gets)> ReportAsync()
    {
        await _process.StandardInput.WriteLineAsync("report");
        await _process.StandardInput.FlushAsync();
        var line = await _process.StandardOutput.ReadLineAsync() ?? throw new InvalidOperationException($"The reader process ended (exit code {(_process.HasExited ? _process.ExitCode : -1)}).");
        var parts = line.Split(' ');
        return (TimeSpan.FromMicroseconds(double.Parse(parts[0], CultureInfo.InvariantCulture)), long.Parse(parts[1], CultureInfo.InvariantCulture));
    }

    public async ValueTask DisposeAsync()
    {
        _process.StandardInput.Close();
        await _process.WaitForExitAsync();
        _process.Dispose();
    }

    /// <summary>The reader itself: reads until its standard input closes.</summary>
    public static int Run(string endPoint)
    {
        var colon = endPoint.LastIndexOf(':');
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        socket.Connect(endPoint[..colon], int.Parse(endPoint[(colon + 1)..], CultureInfo.InvariantCulture));
        long worst = 0;
        long gets = 0;
        var stopped = 0;
        var loop = new Thread(() =>
        {
            var buffer = new byte[Reply.Length];
            while (Volatile.Read(ref stopped) == 0)
            {
                var started = Stopwatch.GetTimestamp();
                socket.Send(Request);
                for (var read = 0; read < buffer.Length;)
                {
                    var got = socket.Receive(buffer.AsSpan(read));
                    read += got > 0 ? got : throw new InvalidOperationException("The server closed the connection.");
                }

                var took = Stopwatch.GetTimestamp() - started;
                if (!buffer.AsSpan().SequenceEqual(Reply))
                {
                    throw new InvalidOperationException($"Unexpected reply: {System.Text.Encoding.ASCII.GetString(buffer)}");
                }

                for (var seen = Volatile.Read(ref worst); took > seen; seen = Volatile.Read(ref worst))
                {
                    if (Interlocked.CompareExchange(ref worst, took, seen) == seen)
                    {
                        break;
                    }
                }

                Interlocked.Increment(ref gets);
            }
        })
        { IsBackground = true, Name = "reader" };
        loop.Start();
        while (Console.ReadLine() is "report")
        {
            var slowest = Interlocked.Exchange(ref worst, 0);
            var count = Interlocked.Exchange(ref gets, 0);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{slowest * 1_000_000.0 / Stopwatch.Frequency:0.0} {count}"));
        }

        Volatile.Write(ref stopped, 1);
        loop.Join();
        return 0;
    }
}
