using System.Buffers.Binary;
using System.Globalization;
using System.IO.Hashing;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace RcAspNet.Endpoints;

/// <summary>
/// A rendered response: status, content type, body bytes and, once it is an entry of the cache, its entity tag,
/// written again as they were. Stored as
/// <c>02 | status (u16) | content-type length (u16) | content type (UTF-8) | entity-tag length (u16) | entity tag (UTF-8) | body</c>.
/// Headers are not stored, so no entry ever carries <c>Set-Cookie</c>. Entries of version 1 (without the entity tag)
/// are still read: their tag is computed on each read until they are written again or expire.
/// </summary>
internal sealed class CachedResponse(int statusCode, string? contentType, ReadOnlyMemory<byte> body, string? entityTag = null) : IResult
{
    private const byte Version = 2;
    private const byte VersionWithoutEntityTag = 1;

    // A handler's entity tag up to this many characters is kept: its UTF-8 bytes fit the u16 length of the encoding.
    private const int MaximumEntityTagLength = ushort.MaxValue / 3;

    public int StatusCode { get; } = statusCode;

    public string? ContentType { get; } = contentType;

    public ReadOnlyMemory<byte> Body { get; } = body;

    /// <summary>Gets the strong or weak entity tag of an entry (the handler's own, or a hash of status, content type and body); null for a response that is not stored.</summary>
    public string? EntityTag { get; } = entityTag;

    /// <summary>Gets whether the response may be shared: not one that sets a cookie, is content-encoded, or says it must not be stored.</summary>
    public bool IsShareable { get; init; } = true;

    /// <summary>
    /// Gets the headers the handler set, for a response rendered away from its request (<see cref="DetachedRequest"/>):
    /// the request that rendered it answers with them. Never stored.
    /// </summary>
    public IHeaderDictionary? Headers { get; init; }

    /// <summary>
    /// Whether a response with these headers may be shared: one that sets a cookie, is encoded, is part of a
    /// representation (<c>Content-Range</c>), or says it must not be stored, is a personal or special one.
    /// </summary>
    public static bool IsShareableBy(IHeaderDictionary headers) =>
        !headers.ContainsKey(HeaderNames.SetCookie) && !headers.ContainsKey(HeaderNames.ContentEncoding) && !headers.ContainsKey(HeaderNames.ContentRange)
        && !headers.CacheControl.ToString().Contains("no-store", StringComparison.OrdinalIgnoreCase)
        && !headers.CacheControl.ToString().Contains("private", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Answers the request with this response, or with 304 and no body when it carries an entity tag that the
    /// request's <c>If-None-Match</c> matches (weak comparison, RFC 9110 section 13.1.2). A response that
    /// <see cref="StartAsync"/> started gets its body.
    /// </summary>
    public Task ExecuteAsync(HttpContext httpContext)
    {
        var response = httpContext.Response;
        if (!response.HasStarted)
        {
            WriteHead(httpContext);
        }

        return response.StatusCode == StatusCodes.Status304NotModified || HttpMethods.IsHead(httpContext.Request.Method)
            ? Task.CompletedTask
            : response.Body.WriteAsync(Body).AsTask();
    }

    /// <summary>
    /// Sets this response's status and headers on the request's response, and starts it: what the response runs as it
    /// starts (its <c>OnStarting</c> callbacks, such as a session's cookie) runs now. <see cref="ExecuteAsync"/> writes
    /// the body.
    /// </summary>
    public Task StartAsync(HttpContext httpContext)
    {
        WriteHead(httpContext);
        return httpContext.Response.StartAsync();
    }

    private void WriteHead(HttpContext httpContext)
    {
        var response = httpContext.Response;
        if (Headers is not null)
        {
            foreach (var (name, value) in Headers)
            {
                if (!HeaderNames.ContentLength.Equals(name, StringComparison.OrdinalIgnoreCase))
                {
                    response.Headers[name] = value;
                }
            }
        }

        if (EntityTag is not null)
        {
            response.Headers.ETag = EntityTag;
            if (IsNotModified(httpContext.Request))
            {
                // The handler of a miss may have set representation headers on this response: a 304 carries none.
                response.StatusCode = StatusCodes.Status304NotModified;
                response.ContentType = null;
                response.ContentLength = null;
                return;
            }
        }

        response.StatusCode = StatusCode;
        response.ContentType = ContentType;
        response.ContentLength = Body.Length;
    }

    /// <summary>This response as one that is not shared: no entry, and no request that joined its miss gets it.</summary>
    public CachedResponse Personal() => new(StatusCode, ContentType, Body) { IsShareable = false, Headers = Headers };

    /// <summary>
    /// This response as an entry of the cache: with <paramref name="handlerEntityTag"/> when the handler set a valid
    /// one, else with a strong tag hashed from its status, content type and body, once.
    /// </summary>
    public CachedResponse AsEntry(string? handlerEntityTag)
    {
        var tag = handlerEntityTag is { Length: <= MaximumEntityTagLength } && EntityTagHeaderValue.TryParse(handlerEntityTag, out var parsed) && !parsed.Equals(EntityTagHeaderValue.Any)
            ? parsed.ToString()
            : HashEntityTag(StatusCode, ContentType, Body.Span);
        return new CachedResponse(StatusCode, ContentType, Body, tag) { IsShareable = IsShareable, Headers = Headers };
    }

    /// <summary>This response as anyone but its renderer gets it: without the handler's headers.</summary>
    public CachedResponse Shared() => Headers is null ? this : new CachedResponse(StatusCode, ContentType, Body, EntityTag) { IsShareable = IsShareable };

    public byte[] Encode()
    {
        var type = Encoding.UTF8.GetBytes(ContentType ?? "");
        var tag = Encoding.UTF8.GetBytes(EntityTag ?? throw new InvalidOperationException("Only a response with an entity tag is stored."));
        var bytes = new byte[7 + type.Length + tag.Length + Body.Length];
        bytes[0] = Version;
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(1), (ushort)StatusCode);
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(3), (ushort)type.Length);
        type.CopyTo(bytes, 5);
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(5 + type.Length), (ushort)tag.Length);
        tag.CopyTo(bytes, 7 + type.Length);
        Body.Span.CopyTo(bytes.AsSpan(7 + type.Length + tag.Length));
        return bytes;
    }

    /// <summary>Reads a stored response whose body stays in <paramref name="bytes"/>.</summary>
    public static bool TryDecode(ReadOnlyMemory<byte> bytes, out CachedResponse? response)
    {
        var read = TryRead(bytes.Span, out var status, out var type, out var tag, out var bodyStart);
        response = read ? new CachedResponse(status, type, bytes[bodyStart..], tag ?? HashEntityTag(status, type, bytes.Span[bodyStart..])) : null;
        return read;
    }

    /// <summary>A strong entity tag: the quoted XXH128 of status, content type and body, in hex.</summary>
    internal static string HashEntityTag(int status, string? contentType, ReadOnlySpan<byte> body)
    {
        var type = Encoding.UTF8.GetBytes(contentType ?? "");
        Span<byte> head = stackalloc byte[4];
        BinaryPrimitives.WriteUInt16BigEndian(head, (ushort)status);
        BinaryPrimitives.WriteUInt16BigEndian(head[2..], (ushort)type.Length);
        var hash = new XxHash128();
        hash.Append(head);
        hash.Append(type);
        hash.Append(body);
        return "\"" + hash.GetCurrentHashAsUInt128().ToString("x32", CultureInfo.InvariantCulture) + "\"";
    }

    private bool IsNotModified(HttpRequest request)
    {
        var ifNoneMatch = request.Headers.IfNoneMatch;
        if (ifNoneMatch.Count == 0 || !EntityTagHeaderValue.TryParseList(ifNoneMatch, out var tags))
        {
            // An If-None-Match that is not a list of entity tags is ignored, as RFC 9110 asks of a malformed field.
            return false;
        }

        var opaque = Opaque(EntityTag);
        foreach (var tag in tags)
        {
            if (tag.Equals(EntityTagHeaderValue.Any) || tag.Tag.AsSpan().SequenceEqual(opaque))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The quoted opaque tag, without the weak indicator: what weak comparison compares.</summary>
    private static ReadOnlySpan<char> Opaque(string? tag) =>
        tag is null ? default : tag.AsSpan(tag.StartsWith("W/", StringComparison.Ordinal) ? 2 : 0);

    private static bool TryRead(ReadOnlySpan<byte> bytes, out int status, out string? type, out string? tag, out int bodyStart)
    {
        (status, type, tag, bodyStart) = (0, null, null, 0);
        if (bytes.Length < 5 || bytes[0] is not (Version or VersionWithoutEntityTag))
        {
            return false;
        }

        var typeLength = BinaryPrimitives.ReadUInt16BigEndian(bytes[3..]);
        bodyStart = 5 + typeLength;
        if (bytes.Length < bodyStart)
        {
            return false;
        }

        if (bytes[0] == Version)
        {
            if (bytes.Length < bodyStart + 2)
            {
                return false;
            }

            var tagLength = BinaryPrimitives.ReadUInt16BigEndian(bytes[bodyStart..]);
            if (tagLength == 0 || bytes.Length < bodyStart + 2 + tagLength)
            {
                return false;
            }

            tag = Encoding.UTF8.GetString(bytes.Slice(bodyStart + 2, tagLength));
            bodyStart += 2 + tagLength;
        }

        status = BinaryPrimitives.ReadUInt16BigEndian(bytes[1..]);
        type = typeLength == 0 ? null : Encoding.UTF8.GetString(bytes.Slice(5, typeLength));
        return true;
    }
}
