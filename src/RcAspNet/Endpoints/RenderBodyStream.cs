using Microsoft.AspNetCore.Http.Features;

namespace RcAspNet.Endpoints;

/// <summary>
/// The body a miss renders for its request: kept in memory while it may still be stored (up to
/// <c>Rc:MaximumValueSize</c> bytes); past that, what was kept is sent and the rest goes straight to the client, as
/// without the cache, never held whole.
/// </summary>
/// <param name="client">The request's own body, which the render's spills into.</param>
/// <param name="limit">How many bytes are kept before the body spills.</param>
/// <param name="spilling">Runs once, before the first byte is sent: the response's status and headers are then final.</param>
internal sealed class RenderBodyStream(IHttpResponseBodyFeature client, int limit, Action spilling) : Stream
{
    private MemoryStream? _kept = new();

    /// <summary>Gets whether the body passed the limit, and was sent as it rendered.</summary>
    public bool Spilled => _kept is null;

    /// <summary>Gets the body, while it has not spilled.</summary>
    public ReadOnlyMemory<byte> Kept => _kept is { } kept ? kept.GetBuffer().AsMemory(0, (int)kept.Length) : throw new InvalidOperationException("The body was sent as it rendered.");

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (_kept is { } kept)
        {
            if (kept.Length + buffer.Length <= limit)
            {
                kept.Write(buffer);
                return;
            }

            Spill();
            client.Stream.Write(kept.GetBuffer(), 0, (int)kept.Length);
        }

        client.Stream.Write(buffer);
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_kept is { } kept)
        {
            if (kept.Length + buffer.Length <= limit)
            {
                kept.Write(buffer.Span);
                return;
            }

            Spill();
            await client.Stream.WriteAsync(kept.GetBuffer().AsMemory(0, (int)kept.Length), cancellationToken).ConfigureAwait(false);
        }

        await client.Stream.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
        if (Spilled)
        {
            client.Stream.Flush();
        }
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Spilled ? client.Stream.FlushAsync(cancellationToken) : Task.CompletedTask;

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    private void Spill()
    {
        _kept = null;
        spilling();
    }
}
