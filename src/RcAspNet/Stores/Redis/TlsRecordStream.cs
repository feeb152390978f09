using System.Buffers.Binary;
using System.Net.Sockets;

namespace RcAspNet.Stores.Redis;

/// <summary>
/// The socket under a connection's <see cref="System.Net.Security.SslStream"/>, handed to it one TLS record at a time,
/// so that every byte received and not yet decrypted is where <see cref="RespConnection.WaitForData"/> can see it. An
/// <c>SslStream</c> reads as much as the socket holds and decrypts one record per read: the records after it would
/// wait, encrypted in its buffer, while polling the socket says nothing is there (the near cache's link would then sit
/// on an invalidation until its next heartbeat's reply). Reads block on the socket's own receive timeout, and time out
/// as a <see cref="NetworkStream"/>'s do.
/// </summary>
internal sealed class TlsRecordStream(Socket socket) : Stream
{
    private const int HeaderSize = 5;

    private readonly byte[] _buffer = new byte[32 * 1024];
    private int _start;
    private int _end;
    private int _recordLeft;

    /// <summary>Gets whether bytes were received that the TLS layer has not read yet.</summary>
    public bool HasBuffered => _end > _start;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty)
        {
            return 0;
        }

        if (_recordLeft == 0)
        {
            // At a record's start: its header says where it ends (a stream that ends inside one is the TLS layer's to report).
            while (_end - _start < HeaderSize)
            {
                if (!Receive())
                {
                    return TakeUpTo(buffer, _end - _start);
                }
            }

            _recordLeft = HeaderSize + BinaryPrimitives.ReadUInt16BigEndian(_buffer.AsSpan(_start + 3, 2));
        }
        else if (_end == _start && !Receive())
        {
            return 0;
        }

        var taken = TakeUpTo(buffer, Math.Min(_recordLeft, _end - _start));
        _recordLeft -= taken;
        return taken;
    }

    // The library's connections block on the calling thread: an asynchronous read or write would run these on the pool.
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => throw new NotSupportedException();

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => throw new NotSupportedException();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => throw new NotSupportedException();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        try
        {
            while (!buffer.IsEmpty)
            {
                buffer = buffer[socket.Send(buffer, SocketFlags.None)..];
            }
        }
        catch (SocketException ex)
        {
            throw new IOException($"Unable to write data to the transport connection: {ex.Message}", ex);
        }
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    private int TakeUpTo(Span<byte> buffer, int available)
    {
        var taken = Math.Min(buffer.Length, available);
        _buffer.AsSpan(_start, taken).CopyTo(buffer);
        _start += taken;
        return taken;
    }

    /// <summary>Receives more bytes after the unread ones; false when the server closed the connection.</summary>
    private bool Receive()
    {
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }

        int read;
        try
        {
            read = socket.Receive(_buffer, _end, _buffer.Length - _end, SocketFlags.None);
        }
        catch (SocketException ex)
        {
            throw new IOException($"Unable to read data from the transport connection: {ex.Message}", ex);
        }

        _end += read;
        return read > 0;
    }
}
