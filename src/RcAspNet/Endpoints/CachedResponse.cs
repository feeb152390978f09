using System.Buffers.Binary;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace RcAspNet.Endpoints;

/// <summary>
/// A rendered response: status, content type and body bytes, written again as they were. Stored as
/// <c>01 | status (u16) | content-type length (u16) | content type (UTF-8) | body</c>. Headers are not stored, so
/// no entry ever carries <c>Set-Cookie</c>.
/// </summary>
internal sealed class CachedResponse(int statusCode, string? contentType, ReadOnlyMemory<byte> body) : IResult
{
    private const byte Version = 1;

    public int StatusCode { get; } = statusCode;

    public string? ContentType { get; } = contentType;

    public ReadOnlyMemory<byte> Body { get; } = body;

    /// <summary>Gets whether the response may be shared: not one that sets a cookie, is content-encoded, or says it must not be stored.</summary>
    public bool IsShareable { get; init; } = true;

    public Task ExecuteAsync(HttpContext httpContext)
    {
        var response = httpContext.Response;
        response.StatusCode = StatusCode;
        response.ContentType = ContentType;
        response.ContentLength = Body.Length;
        return HttpMethods.IsHead(httpContext.Request.Method) ? Task.CompletedTask : response.Body.WriteAsync(Body).AsTask();
    }

    public byte[] Encode()
    {
        var type = Encoding.UTF8.GetBytes(ContentType ?? "");
        var bytes = new byte[5 + type.Length + Body.Length];
        bytes[0] = Version;
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(1), (ushort)StatusCode);
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(3), (ushort)type.Length);
        type.CopyTo(bytes, 5);
        Body.Span.CopyTo(bytes.AsSpan(5 + type.Length));
        return bytes;
    }

    /// <summary>Reads a stored response whose body stays in <paramref name="bytes"/>.</summary>
    public static bool TryDecode(ReadOnlyMemory<byte> bytes, out CachedResponse? response)
    {
        var read = TryRead(bytes.Span, out var status, out var type, out var bodyStart);
        response = read ? new CachedResponse(status, type, bytes[bodyStart..]) : null;
        return read;
    }

    private static bool TryRead(ReadOnlySpan<byte> bytes, out int status, out string? type, out int bodyStart)
    {
        (status, type, bodyStart) = (0, null, 0);
        if (bytes.Length < 5 || bytes[0] != Version)
        {
            return false;
        }

        var typeLength = BinaryPrimitives.ReadUInt16BigEndian(bytes[3..]);
        if (bytes.Length < 5 + typeLength)
        {
            return false;
        }

        status = BinaryPrimitives.ReadUInt16BigEndian(bytes[1..]);
        type = typeLength == 0 ? null : Encoding.UTF8.GetString(bytes.Slice(5, typeLength));
        bodyStart = 5 + typeLength;
        return true;
    }
}
