using System.Buffers.Binary;
using System.Globalization;
using System.IO.Hashing;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace RcAspNet.Endpoints;

/// <summary>
/// A rendered response: status, content type, the headers its handler set (<see cref="HandlerHeaders"/>), body bytes
/// and, once it is an entry of the cache, its entity tag, written again as they were. Stored as
/// <c>02 | status (u16) | content-type length (u16) | content type (UTF-8) | entity-tag length (u16) | entity tag (UTF-8) | body</c>,
/// or, with the handler's headers, as version 3, which puts <c>written at (i64, Unix milliseconds) | headers</c> before
/// the body. A response without headers of its handler's is still written as version 2, which nodes of an older
/// RcAspNet read. No entry ever carries <c>Set-Cookie</c>. Entries of version 1 (without the entity tag) are still
/// read: their tag is computed on each read until they are written again or expire.
/// </summary>
internal sealed class CachedResponse(int statusCode, string? contentType, ReadOnlyMemory<byte> body, string? entityTag = null) : IResult
{
    private const byte Version = 2;
    private const byte VersionWithHeaders = 3;
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

    /// <summary>Gets the headers its handler set that go with the response wherever it answers; null for none.</summary>
    public HandlerHeaders? StoredHeaders { get; init; }

    /// <summary>Gets when an entry with its handler's headers was rendered, for the <c>Age</c> of answers from it; null for other responses.</summary>
    public DateTimeOffset? WrittenAt { get; init; }

    /// <summary>
    /// Gets whether the response was sent to its request as it rendered (its body passed what may be stored): nothing
    /// of it is left to write, and nothing of it is shared or stored.
    /// </summary>
    public bool IsSent { get; private init; }

    /// <summary>Gets whether the response fits the entry's encoding (its handler's headers do): one that does not is not stored.</summary>
    public bool FitsEncoding => StoredHeaders?.FitsEncoding ?? true;

    /// <summary>
    /// Whether a response with these headers may be shared: one that sets a cookie, is encoded, is part of a
    /// representation (<c>Content-Range</c>), or says it must not be stored, is a personal or special one.
    /// </summary>
    public static bool IsShareableBy(IHeaderDictionary headers) =>
        !IsPersonal(headers) && !headers.ContainsKey(HeaderNames.ContentEncoding) && !headers.ContainsKey(HeaderNames.ContentRange) && !VariesOnAnything(headers);

    /// <summary>Whether the response says it varies on what no request header names (<c>Vary: *</c>): no shared cache may answer with it (RFC 9111, section 4.1).</summary>
    private static bool VariesOnAnything(IHeaderDictionary headers)
    {
        foreach (var value in headers.Vary)
        {
            foreach (var name in (value ?? "").Split(','))
            {
                if (name.AsSpan().Trim().SequenceEqual("*"))
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>Whether headers make a response one visitor's own: it sets a cookie, or says it is private or not to be stored.</summary>
    public static bool IsPersonal(IHeaderDictionary headers) =>
        headers.ContainsKey(HeaderNames.SetCookie)
        || headers.CacheControl.ToString().Contains("no-store", StringComparison.OrdinalIgnoreCase)
        || headers.CacheControl.ToString().Contains("private", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Answers the request with this response, or with 304 and no body when it carries an entity tag that the
    /// request's <c>If-None-Match</c> matches (weak comparison, RFC 9110 section 13.1.2). A response that
    /// <see cref="StartAsync"/> started gets its body.
    /// </summary>
    public Task ExecuteAsync(HttpContext httpContext)
    {
        if (IsSent)
        {
            return Task.CompletedTask;
        }

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

        var notModified = EntityTag is not null && IsNotModified(httpContext.Request);
        StoredHeaders?.WriteTo(response.Headers, notModified);

        if (EntityTag is not null)
        {
            response.Headers.ETag = EntityTag;
            if (notModified)
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

        // A HEAD request's handler may declare the length of a body it does not write (a file result does): an answer
        // that is no entry keeps it, as its handler set it on this response or on the one it rendered away. An entry's
        // length is its body's.
        response.ContentLength = EntityTag is null && Body.IsEmpty && HttpMethods.IsHead(httpContext.Request.Method) && (Headers?.ContentLength ?? response.ContentLength) is { } declared
            ? declared
            : Body.Length;
    }

    /// <summary>This response as one that is not shared: no entry, and no request that joined its miss gets it.</summary>
    public CachedResponse Personal() => new(StatusCode, ContentType, Body) { IsShareable = false, Headers = Headers, StoredHeaders = StoredHeaders };

    /// <summary>A response sent to its request as it rendered (<see cref="IsSent"/>), which kept no body.</summary>
    public static CachedResponse Sent(int statusCode, string? contentType) => new(statusCode, contentType, ReadOnlyMemory<byte>.Empty) { IsShareable = false, IsSent = true };

    /// <summary>This response as a request that joined its miss gets an error that is not stored: its status and body alone, as none of its headers may be that request's.</summary>
    public CachedResponse Bare() => new(StatusCode, ContentType, Body) { IsShareable = IsShareable };

    /// <summary>
    /// This response as an entry of the cache, rendered at <paramref name="now"/>: with <paramref name="handlerEntityTag"/>
    /// when the handler set a valid one, else with a strong tag hashed from its status, content type and body, once.
    /// </summary>
    public CachedResponse AsEntry(string? handlerEntityTag, DateTimeOffset now)
    {
        var tag = handlerEntityTag is { Length: <= MaximumEntityTagLength } && EntityTagHeaderValue.TryParse(handlerEntityTag, out var parsed) && !parsed.Equals(EntityTagHeaderValue.Any)
            ? parsed.ToString()
            : HashEntityTag(StatusCode, ContentType, Body.Span);
        return new CachedResponse(StatusCode, ContentType, Body, tag)
        {
            IsShareable = IsShareable,
            Headers = Headers,
            StoredHeaders = StoredHeaders,
            WrittenAt = StoredHeaders is null ? null : now,
        };
    }

    /// <summary>This response as anyone but its renderer gets it: without what only its renderer's response carried.</summary>
    public CachedResponse Shared() => Headers is null ? this : new CachedResponse(StatusCode, ContentType, Body, EntityTag) { IsShareable = IsShareable, StoredHeaders = StoredHeaders, WrittenAt = WrittenAt };

    public byte[] Encode()
    {
        var type = Encoding.UTF8.GetBytes(ContentType ?? "");
        var tag = Encoding.UTF8.GetBytes(EntityTag ?? throw new InvalidOperationException("Only a response with an entity tag is stored."));
        var headersLength = StoredHeaders is null ? 0 : 8 + StoredHeaders.EncodedLength;
        var bytes = new byte[7 + type.Length + tag.Length + headersLength + Body.Length];
        bytes[0] = StoredHeaders is null ? Version : VersionWithHeaders;
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(1), (ushort)StatusCode);
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(3), (ushort)type.Length);
        type.CopyTo(bytes, 5);
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(5 + type.Length), (ushort)tag.Length);
        tag.CopyTo(bytes, 7 + type.Length);
        var at = 7 + type.Length + tag.Length;
        if (StoredHeaders is not null)
        {
            BinaryPrimitives.WriteInt64BigEndian(bytes.AsSpan(at), (WrittenAt ?? DateTimeOffset.UnixEpoch).ToUnixTimeMilliseconds());
            at += 8 + StoredHeaders.Encode(bytes.AsSpan(at + 8));
        }

        Body.Span.CopyTo(bytes.AsSpan(at));
        return bytes;
    }

    /// <summary>Reads a stored response whose body stays in <paramref name="bytes"/>.</summary>
    public static bool TryDecode(ReadOnlyMemory<byte> bytes, out CachedResponse? response)
    {
        var read = TryRead(bytes.Span, out var status, out var type, out var tag, out var headers, out var writtenAt, out var bodyStart);
        response = read ? new CachedResponse(status, type, bytes[bodyStart..], tag ?? HashEntityTag(status, type, bytes.Span[bodyStart..])) { StoredHeaders = headers, WrittenAt = writtenAt } : null;
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
        if (ifNoneMatch.Count == 0)
        {
            return IsNotModifiedSince(request);
        }

        if (!EntityTagHeaderValue.TryParseList(ifNoneMatch, out var tags))
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

    /// <summary>
    /// Without <c>If-None-Match</c>, <c>If-Modified-Since</c> (RFC 9110 section 13.1.3), as output caching answers it:
    /// not modified when the handler's <c>Last-Modified</c>, else the moment the entry was rendered (known for an entry
    /// with the handler's headers), is not after the date the client gives.
    /// </summary>
    private bool IsNotModifiedSince(HttpRequest request)
    {
        if (request.Headers.IfModifiedSince.Count != 1
            || !HeaderUtilities.TryParseDate(request.Headers.IfModifiedSince.ToString(), out var since))
        {
            return false;
        }

        var modified = WrittenAt;
        foreach (var (name, value) in StoredHeaders?.Fields ?? [])
        {
            if (HeaderNames.LastModified.Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                modified = HeaderUtilities.TryParseDate(value, out var lastModified) ? lastModified : null;
            }
        }

        return modified is { } at && at <= since;
    }

    /// <summary>The quoted opaque tag, without the weak indicator: what weak comparison compares.</summary>
    private static ReadOnlySpan<char> Opaque(string? tag) =>
        tag is null ? default : tag.AsSpan(tag.StartsWith("W/", StringComparison.Ordinal) ? 2 : 0);

    private static bool TryRead(ReadOnlySpan<byte> bytes, out int status, out string? type, out string? tag, out HandlerHeaders? headers, out DateTimeOffset? writtenAt, out int bodyStart)
    {
        (status, type, tag, headers, writtenAt, bodyStart) = (0, null, null, null, null, 0);
        if (bytes.Length < 5 || bytes[0] is not (Version or VersionWithHeaders or VersionWithoutEntityTag))
        {
            return false;
        }

        var typeLength = BinaryPrimitives.ReadUInt16BigEndian(bytes[3..]);
        bodyStart = 5 + typeLength;
        if (bytes.Length < bodyStart)
        {
            return false;
        }

        if (bytes[0] is Version or VersionWithHeaders)
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

        if (bytes[0] == VersionWithHeaders)
        {
            if (bytes.Length < bodyStart + 8
                || BinaryPrimitives.ReadInt64BigEndian(bytes[bodyStart..]) is not (>= 0 and <= 253_402_300_799_999 and var written)) // up to year 9999
            {
                return false;
            }

            bodyStart += 8;
            if (!HandlerHeaders.TryDecode(bytes, ref bodyStart, out headers))
            {
                return false;
            }

            writtenAt = DateTimeOffset.FromUnixTimeMilliseconds(written);
        }

        status = BinaryPrimitives.ReadUInt16BigEndian(bytes[1..]);
        type = typeLength == 0 ? null : Encoding.UTF8.GetString(bytes.Slice(5, typeLength));
        return true;
    }
}
