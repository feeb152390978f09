using System.Buffers;
using System.Buffers.Text;
using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace RcAspNet.Stores.Redis;

/// <summary>
/// One blocking connection to one Redis server that speaks RESP on the calling thread. The synchronous members use it
/// so that they never wait on the thread pool (a multiplexed client completes its replies there), and the near cache's
/// invalidation link reads from one on a thread of its own. Every call is bounded by the deadline it is given, a
/// <see cref="Stopwatch"/> timestamp; a connection that missed a deadline or saw a protocol error is not reused.
/// </summary>
internal sealed class RespConnection : IDisposable
{
    private readonly Socket _socket;
    private readonly SslStream? _tls;
    private readonly TlsRecordStream? _records;
    private readonly ArrayBufferWriter<byte> _out = new(256);
    private byte[] _in = new byte[8192];
    private int _start;
    private int _end;
    private int _receiveTimeout = -1;
    private int _unreadReplies;

    // A TLS record's most plaintext: a read with room for it leaves nothing decrypted behind in the SslStream.
    private const int MostRecordPlaintext = 16 * 1024;

    private RespConnection(Socket socket, SslStream? tls, TlsRecordStream? records, EndPoint endPoint)
    {
        _socket = socket;
        _tls = tls;
        _records = records;
        EndPoint = endPoint;
    }

    /// <summary>The name every connection of the library's own carries (<c>CLIENT SETNAME</c>): its synchronous calls' and its links'.</summary>
    public const string ClientName = "rcaspnet";

    public EndPoint EndPoint { get; }

    /// <summary>Gets whether the connection can be used again: false after a timeout, an I/O error or a protocol error.</summary>
    public bool IsHealthy { get; private set; } = true;

    /// <summary>
    /// Connects, negotiates TLS when asked (the server's certificate validated as <see cref="RespSettings.CertificateValidation"/>
    /// says, its host name always checked), authenticates and selects the database, all before <paramref name="deadline"/>.
    /// A certificate that is not trusted throws <see cref="System.Security.Authentication.AuthenticationException"/>, and
    /// credentials the server refuses throw <see cref="RespErrorException"/> (<c>WRONGPASS</c>).
    /// </summary>
    public static RespConnection Open(EndPoint endPoint, RespSettings settings, long deadline)
    {
        var socket = Connect(endPoint, settings.Lookup, deadline);
        SslStream? tls = null;
        TlsRecordStream? records = null;
        try
        {
            if (settings.Ssl)
            {
                socket.ReceiveTimeout = socket.SendTimeout = RemainingMilliseconds(deadline);
                tls = new SslStream(records = new TlsRecordStream(socket));
                tls.AuthenticateAsClient(new SslClientAuthenticationOptions
                {
                    TargetHost = settings.SslHost ?? (endPoint as DnsEndPoint)?.Host ?? (endPoint as IPEndPoint)?.Address.ToString(),
                    EnabledSslProtocols = settings.SslProtocols,
                    RemoteCertificateValidationCallback = settings.CertificateValidation,
                });
            }

            var connection = new RespConnection(socket, tls, records, endPoint);
            if (settings.Password is not null)
            {
                var auth = settings.User is null ? connection.Command(2).Arg("AUTH") : connection.Command(3).Arg("AUTH").Arg(settings.User);
                auth.Arg(settings.Password).Call(deadline).ThrowIfError();
            }

            if (settings.Database != 0)
            {
                connection.Command(2).Arg("SELECT").Arg(settings.Database).Call(deadline).ThrowIfError();
            }

            // Named, so that an operator tells the library's own connections from its multiplexer's in CLIENT LIST;
            // the reply is read with the first command's.
            connection.Command(3).Arg("CLIENT").Arg("SETNAME").Arg(ClientName).SendWithoutReply(deadline);
            return connection;
        }
        catch
        {
            tls?.Dispose();
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Starts a command of <paramref name="arguments"/> parts, the command name included.</summary>
    public RespConnection Command(int arguments)
    {
        _out.ResetWrittenCount();
        WriteHeader((byte)'*', arguments);
        return this;
    }

    public RespConnection Arg(string value)
    {
        var length = Encoding.UTF8.GetByteCount(value);
        WriteHeader((byte)'$', length);
        Encoding.UTF8.GetBytes(value, _out.GetSpan(length));
        _out.Advance(length);
        WriteCrLf();
        return this;
    }

    public RespConnection Arg(ReadOnlySpan<byte> value)
    {
        WriteHeader((byte)'$', value.Length);
        _out.Write(value);
        WriteCrLf();
        return this;
    }

    public RespConnection Arg(long value)
    {
        Span<byte> digits = stackalloc byte[20];
        Utf8Formatter.TryFormat(value, digits, out var written);
        return Arg(digits[..written]);
    }

    /// <summary>Sends the command and reads its reply.</summary>
    public RespReply Call(long deadline)
    {
        Send(deadline);
        return Read(deadline);
    }

    /// <summary>Sends the command and returns without its reply, which the next <see cref="Read"/> skips.</summary>
    public void SendWithoutReply(long deadline)
    {
        Send(deadline);
        _unreadReplies++;
    }

    /// <summary>Sends the command and reads a reply that must be a bulk string or null, without building a <see cref="RespReply"/>.</summary>
    public byte[]? CallForBulk(long deadline)
    {
        Send(deadline);
        return ReadBulk(deadline);
    }

    /// <summary>Reads a reply that must be a bulk string or null, without building a <see cref="RespReply"/>.</summary>
    public byte[]? ReadBulk(long deadline)
    {
        try
        {
            SkipUnread(deadline);
            return ReadBulkReply(deadline);
        }
        catch (Exception ex) when (ex is not RespErrorException)
        {
            if (Broken(ex) is { } timeout)
            {
                throw timeout;
            }

            throw;
        }
    }

    private byte[]? ReadBulkReply(long deadline)
    {
        var (type, start, length) = ReadLine(deadline);
        switch (type)
        {
            case (byte)'$' or (byte)'=':
                var size = ParseInteger(start, length);
                return size < 0 ? null : ReadBulk(size, deadline);
            case (byte)'_':
                return null;
            case (byte)'-' or (byte)'!':
                throw new RespErrorException(type == '-' ? Encoding.UTF8.GetString(_in, start, length) : Encoding.UTF8.GetString(ReadBulk(ParseInteger(start, length), deadline)));
            default:
                IsHealthy = false;
                throw new RespProtocolException($"Expected a bulk string, got '{(char)type}'.");
        }
    }

    /// <summary>Waits up to <paramref name="timeout"/> for something to read; false when nothing came (the connection stays usable).</summary>
    public bool WaitForData(TimeSpan timeout)
    {
        // Over TLS, bytes received and not decrypted yet are the record stream's: the socket no longer has them.
        if (_end > _start || _records is { HasBuffered: true })
        {
            return true;
        }

        try
        {
            return _socket.Poll((int)Math.Clamp(timeout.TotalMicroseconds, 0, int.MaxValue), SelectMode.SelectRead);
        }
        catch (SocketException)
        {
            IsHealthy = false;
            throw;
        }
    }

    /// <summary>Reads one reply: of the last command, or a push message of a connection that tracks keys.</summary>
    public RespReply Read(long deadline)
    {
        try
        {
            SkipUnread(deadline);
            return ReadReply(deadline);
        }
        catch (Exception ex) when (ex is not RespErrorException)
        {
            if (Broken(ex) is { } timeout)
            {
                throw timeout;
            }

            throw;
        }
    }

    public void Dispose()
    {
        IsHealthy = false;
        _tls?.Dispose();
        _socket.Dispose();
    }

    /// <summary>Milliseconds left before <paramref name="deadline"/>, at least one; a deadline that has passed throws <see cref="TimeoutException"/>.</summary>
    public static int RemainingMilliseconds(long deadline)
    {
        var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
        if (left <= TimeSpan.Zero)
        {
            throw new TimeoutException("The Redis operation did not complete within Rc:OperationTimeout.");
        }

        return (int)Math.Min(int.MaxValue, Math.Ceiling(left.TotalMilliseconds));
    }

    public static long Deadline(TimeSpan timeout) => Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);

    private static Socket Connect(EndPoint endPoint, Func<string, IPAddress[]> lookup, long deadline)
    {
        if (endPoint is DnsEndPoint dns)
        {
            var addresses = HostResolver.Resolve(dns.Host, lookup, deadline);
            Exception? last = null;
            foreach (var address in addresses.OrderBy(static a => a.AddressFamily == AddressFamily.InterNetwork ? 0 : 1))
            {
                try
                {
                    return Connect(new IPEndPoint(address, dns.Port), lookup, deadline);
                }
                catch (SocketException ex)
                {
                    last = ex;
                }
            }

            throw last ?? new SocketException((int)SocketError.HostNotFound);
        }

        var unix = endPoint is UnixDomainSocketEndPoint;
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, unix ? ProtocolType.Unspecified : ProtocolType.Tcp);
        try
        {
            if (!unix)
            {
                socket.NoDelay = true;
            }

            if (!OperatingSystem.IsWindows())
            {
                // A blocking connect, bounded by the send timeout (Linux applies SO_SNDTIMEO to connect), with signals
                // held off the thread meanwhile (SignalMask: one would leave .NET waiting minutes for it). The socket
                // must never be made non-blocking: .NET on Unix would then only emulate blocking calls, and an
                // emulated Receive can wait on a thread-pool work item, which is what these connections avoid.
                socket.SendTimeout = RemainingMilliseconds(deadline);
                try
                {
                    using var held = SignalMask.HoldSignals();
                    socket.Connect(endPoint);
                }
                catch (SocketException ex) when (ex.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock or SocketError.InProgress)
                {
                    throw new ConnectTimeoutException(new TimeoutException($"Connecting to {endPoint} did not complete within Rc:OperationTimeout.", ex));
                }

                return socket;
            }

            // Windows ignores the send timeout on connect: connect without blocking, bounded by Poll.
            socket.Blocking = false;
            try
            {
                socket.Connect(endPoint);
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress or SocketError.AlreadyInProgress)
            {
                var micros = (int)Math.Min(int.MaxValue, RemainingMilliseconds(deadline) * 1000L);
                if (!socket.Poll(micros, SelectMode.SelectWrite))
                {
                    throw new ConnectTimeoutException(new TimeoutException($"Connecting to {endPoint} did not complete within Rc:OperationTimeout."));
                }

                var error = (SocketError)(int)socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error)!;
                if (error != SocketError.Success)
                {
                    throw new SocketException((int)error);
                }
            }

            socket.Blocking = true;
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Sends the command started by <see cref="Command"/>; its reply is read by a later <see cref="Read"/>.</summary>
    public void Send(long deadline)
    {
        try
        {
            _socket.SendTimeout = RemainingMilliseconds(deadline);
            if (_tls is not null)
            {
                _tls.Write(_out.WrittenSpan);
                return;
            }

            var data = _out.WrittenSpan;
            while (data.Length > 0)
            {
                data = data[_socket.Send(data)..];
            }
        }
        catch (Exception ex)
        {
            if (Broken(ex) is { } timeout)
            {
                throw timeout;
            }

            throw;
        }
    }

    private void SkipUnread(long deadline)
    {
        while (_unreadReplies > 0)
        {
            _ = ReadReply(deadline); // an error reply to a command nobody waits for is dropped
            _unreadReplies--;
        }
    }

    private RespReply ReadReply(long deadline)
    {
        var (type, start, length) = ReadLine(deadline);
        switch (type)
        {
            case (byte)'+':
                return RespReply.Simple(Encoding.UTF8.GetString(_in, start, length));
            case (byte)'-':
                return RespReply.Error(Encoding.UTF8.GetString(_in, start, length));
            case (byte)':':
                return RespReply.FromInteger(ParseInteger(start, length));
            case (byte)'$' or (byte)'=':
                var size = ParseInteger(start, length);
                return size < 0 ? RespReply.Null : RespReply.Bulk(ReadBulk(size, deadline));
            case (byte)'!':
                return RespReply.Error(Encoding.UTF8.GetString(ReadBulk(ParseInteger(start, length), deadline)));
            case (byte)'_':
                return RespReply.Null;
            case (byte)'#':
                return RespReply.FromInteger(length > 0 && _in[start] == (byte)'t' ? 1 : 0);
            case (byte)',' or (byte)'(':
                return RespReply.Simple(Encoding.UTF8.GetString(_in, start, length));
            case (byte)'*' or (byte)'~' or (byte)'>' or (byte)'%' or (byte)'|':
                var count = ParseInteger(start, length);
                if (count < 0)
                {
                    return RespReply.Null;
                }

                var items = new RespReply[type is (byte)'%' or (byte)'|' ? count * 2 : count];
                for (var i = 0; i < items.Length; i++)
                {
                    items[i] = ReadReply(deadline);
                }

                return type == '|' ? ReadReply(deadline) : type == '>' ? RespReply.Push(items) : RespReply.Array(items);
            default:
                IsHealthy = false;
                throw new RespProtocolException($"Unknown RESP type '{(char)type}'.");
        }
    }

    /// <summary>Reads one line; returns its type byte and where the rest of it lies in the input buffer (valid until the next read).</summary>
    private (byte Type, int Start, int Length) ReadLine(long deadline)
    {
        var scanned = 0;
        while (true)
        {
            var newline = Array.IndexOf(_in, (byte)'\n', _start + scanned, _end - _start - scanned);
            if (newline > _start && _in[newline - 1] == '\r')
            {
                var type = _in[_start];
                var start = _start + 1;
                _start = newline + 1;
                return (type, start, newline - 1 - start);
            }

            // Fill may move the unread bytes to the front of the buffer: remember how far they were scanned, not where.
            scanned = _end - _start;
            Fill(deadline);
        }
    }

    private byte[] ReadBulk(long size, long deadline)
    {
        if (size > int.MaxValue - 2)
        {
            IsHealthy = false;
            throw new RespProtocolException("A bulk string is too large.");
        }

        var value = new byte[size];
        var copied = 0;
        while (true)
        {
            var take = (int)Math.Min(size - copied, _end - _start);
            Buffer.BlockCopy(_in, _start, value, copied, take);
            _start += take;
            copied += take;
            if (copied == size)
            {
                break;
            }

            Fill(deadline);
        }

        while (_end - _start < 2)
        {
            Fill(deadline);
        }

        _start += 2;
        return value;
    }

    /// <summary>Reads more bytes from the socket, keeping the unread ones.</summary>
    private void Fill(long deadline)
    {
        if (_start > 0)
        {
            Buffer.BlockCopy(_in, _start, _in, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }

        if (_end == _in.Length || (_tls is not null && _in.Length - _end < MostRecordPlaintext))
        {
            Array.Resize(ref _in, Math.Max(_in.Length * 2, _end + MostRecordPlaintext));
        }

        var timeout = RemainingMilliseconds(deadline);
        if (timeout != _receiveTimeout)
        {
            _socket.ReceiveTimeout = _receiveTimeout = timeout;
        }

        var read = _tls is not null ? _tls.Read(_in, _end, _in.Length - _end) : _socket.Receive(_in, _end, _in.Length - _end, SocketFlags.None);
        if (read == 0)
        {
            IsHealthy = false;
            throw new IOException($"Redis at {EndPoint} closed the connection.");
        }

        _end += read;
    }

    private long ParseInteger(int start, int length)
    {
        if (!Utf8Parser.TryParse(_in.AsSpan(start, length), out long value, out var consumed) || consumed != length)
        {
            IsHealthy = false;
            throw new RespProtocolException("A RESP length or integer is malformed.");
        }

        return value;
    }

    private void WriteHeader(byte type, long value)
    {
        var span = _out.GetSpan(24);
        span[0] = type;
        Utf8Formatter.TryFormat(value, span[1..], out var written);
        span[1 + written] = (byte)'\r';
        span[2 + written] = (byte)'\n';
        _out.Advance(3 + written);
    }

    private void WriteCrLf()
    {
        var span = _out.GetSpan(2);
        span[0] = (byte)'\r';
        span[1] = (byte)'\n';
        _out.Advance(2);
    }

    /// <summary>
    /// Marks the connection unusable after a failure that was not a server's error reply; returns the
    /// <see cref="TimeoutException"/> to throw instead when the failure was a wait that ran out.
    /// </summary>
    private TimeoutException? Broken(Exception ex)
    {
        IsHealthy = false;
        return ex is SocketException { SocketErrorCode: SocketError.TimedOut } or IOException { InnerException: SocketException { SocketErrorCode: SocketError.TimedOut } }
            ? new TimeoutException($"Redis at {EndPoint} did not answer within Rc:OperationTimeout.", ex)
            : null;
    }
}
