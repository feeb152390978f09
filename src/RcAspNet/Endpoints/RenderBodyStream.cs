using Microsoft.AspNetCore.Http.Features;

namespace RcAspNet.Endpoints;

/// <summary>
/// The body a miss renders for its request: kept in memory while it may still be stored (up to
/// <c>Rc:MaximumValueSize</c> bytes); past that, what was kept is sent and the rest goes straight to the client, as
/// without the cache, never held whole. Like any buffer (ASP.NET Core's response buffering, MVC's), it takes synchronous
/// writes while it keeps the body; once the body spills they go to the server's stream, which refuses them unless the
/// request allows synchronous I/O.
/// </summary>
/// <param name="client">The request's own body, which the render's spills into; null for a render that keeps it all (away from its request).</param>
/// <param name="limit">How many bytes are kept before the body spills.</param>
/// <param name="spilling">Runs once, on the writer's thread, just before the kept bytes are sent and the response starts.</param>
internal sealed class RenderBodyStream(IHttpResponseBodyFeature? client, int limit, Action? spilling) : Stream
{
    private MemoryStream? _kept = new();

    /// <summary>Gets whether the body passed the limit, and was sent as it rendered.</summary>
    public bool Spilled => _kept is null;

    /// <summary>Gets the body, while it has not spilled.</summary>
    public ReadOnlyMemory<byte> Kept => _kept is { } kept ? kept.GetBuffer().AsMemory(0, (int)kept.Length) : throw new InvalidOperationException("The body was sent as it rendered.");

    public override bool CanRead => false;

    /// <summary>Gets whether the body can be rewound: until it spills (so <c>Response.Clear()</c> empties it, as it empties a buffer).</summary>
    public override bool CanSeek => _kept is not null;

    public override bool CanWrite => true;

    public override long Length => Unspilled.Length;

    public override long Position { get => Unspilled.Position; set => Unspilled.Position = value; }

    // A render away from its request has no client: it keeps its whole body (its limit is the largest array).
    private Stream ClientStream => client?.Stream ?? throw new IOException("The body is larger than a buffer in memory can hold.");

    private MemoryStream Unspilled => _kept ?? throw new NotSupportedException("The body was sent as it rendered.");

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (_kept is { } kept)
        {
            if (Fits(kept, buffer.Length))
            {
                kept.Write(buffer);
                return;
            }

            Spill();
            ClientStream.Write(kept.GetBuffer(), 0, (int)kept.Length);
        }

        ClientStream.Write(buffer);
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_kept is { } kept)
        {
            if (Fits(kept, buffer.Length))
            {
                kept.Write(buffer.Span);
                return;
            }

            Spill();
            await ClientStream.WriteAsync(kept.GetBuffer().AsMemory(0, (int)kept.Length), cancellationToken).ConfigureAwait(false);
        }

        await ClientStream.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
        if (Spilled)
        {
            ClientStream.Flush();
        }
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Spilled ? ClientStream.FlushAsync(cancellationToken) : Task.CompletedTask;

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => Unspilled.Seek(offset, origin);

    public override void SetLength(long value) => Unspilled.SetLength(value);

    /// <summary>Whether <paramref name="count"/> more bytes may be kept; when they may, the buffer grows to at most the limit.</summary>
    private bool Fits(MemoryStream kept, int count)
    {
        var needed = kept.Position + count;
        if (needed > limit)
        {
            return false;
        }

        if (needed > kept.Capacity)
        {
            kept.Capacity = (int)Math.Min(limit, Math.Max(needed, Math.Max(256L, kept.Capacity * 2L)));
        }

        return true;
    }

    private void Spill()
    {
        _ = ClientStream;
        _kept = null;
        spilling?.Invoke();
    }
}
