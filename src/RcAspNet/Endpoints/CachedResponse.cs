using System.Buffers.Binary;
using System.Collections.Frozen;
using System.Globalization;
using System.IO.Hashing;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace RcAspNet.Endpoints;

/// <summary>
/// A rendered response: status, content type, the headers the handler set (<see cref="StoredHeaders"/>), body bytes
/// and, once it is an entry of the cache, its entity tag, written again as they were. Stored as
/// <c>02 | status (u16) | content-type length (u16) | content type (UTF-8) | entity-tag length (u16) | entity tag (UTF-8) | body</c>,
/// or, with headers, as version 3, which puts
/// <c>header count (u16) | (name length (u16) | name (UTF-8) | value length (u16) | value (UTF-8))*</c> before the body
/// (a header of several values once per value). A response without headers of its own is still written as version 2,
/// which nodes of an older RcAspNet read. No entry ever carries <c>Set-Cookie</c>. Entries of version 1 (without the
/// entity tag) are still read: their tag is computed on each read until they are written again or expire.
/// </summary>
internal sealed class CachedResponse(int statusCode, string? contentType, ReadOnlyMemory<byte> body, string? entityTag = null) : IResult
{
    private const byte Version = 2;
    private const byte VersionWithHeaders = 3;
    private const byte VersionWithoutEntityTag = 1;

    // A handler's entity tag up to this many characters is kept: its UTF-8 bytes fit the u16 length of the encoding.
    private const int MaximumEntityTagLength = ushort.MaxValue / 3;

    /// <summary>Headers never stored: they describe one sending of a response, or the response keeps them apart, or they keep it out of the cache.</summary>
    private static readonly FrozenSet<string> NotStored = FrozenSet.Create(
        StringComparer.OrdinalIgnoreCase,
        HeaderNames.ContentType, HeaderNames.ContentLength, HeaderNames.ETag, HeaderNames.SetCookie, HeaderNames.ContentEncoding, HeaderNames.ContentRange,
        HeaderNames.Date, HeaderNames.Server, HeaderNames.Age, HeaderNames.TransferEncoding, HeaderNames.Connection, HeaderNames.KeepAlive,
        HeaderNames.Upgrade, HeaderNames.Trailer, HeaderNames.ProxyConnection);

    /// <summary>What a 304 carries of a 200's headers besides its entity tag (RFC 9110, section 15.4.5).</summary>
    private static readonly FrozenSet<string> NotModifiedCarries = FrozenSet.Create(
        StringComparer.OrdinalIgnoreCase, HeaderNames.CacheControl, HeaderNames.ContentLocation, HeaderNames.Expires, HeaderNames.Vary);

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
    /// Gets the headers the handler set that go with the response wherever it answers (a hit, a request that joined its
    /// miss, a fail-safe fallback), as output caching keeps them: all but those that describe one sending of it (see
    /// <see cref="HeadersToStore"/>). A 304 answered from it carries only those RFC 9110 asks of one. Null for none.
    /// </summary>
    public KeyValuePair<string, string>[]? StoredHeaders { get; init; }

    /// <summary>Gets whether the headers fit the entry's encoding (every name and value under 64 KiB of UTF-8): one whose do not is not stored.</summary>
    public bool FitsEncoding => StoredHeaders is null || (StoredHeaders.Length <= ushort.MaxValue
        && Array.TrueForAll(StoredHeaders, static h => Encoding.UTF8.GetByteCount(h.Key) <= ushort.MaxValue && Encoding.UTF8.GetByteCount(h.Value) <= ushort.MaxValue));

    /// <summary>
    /// Whether a response with these headers may be shared: one that sets a cookie, is encoded, is part of a
    /// representation (<c>Content-Range</c>), or says it must not be stored, is a personal or special one.
    /// </summary>
    public static bool IsShareableBy(IHeaderDictionary headers) =>
        !headers.ContainsKey(HeaderNames.SetCookie) && !headers.ContainsKey(HeaderNames.ContentEncoding) && !headers.ContainsKey(HeaderNames.ContentRange)
        && !headers.CacheControl.ToString().Contains("no-store", StringComparison.OrdinalIgnoreCase)
        && !headers.CacheControl.ToString().Contains("private", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// What of <paramref name="headers"/> goes with a rendered response: every header but those of one sending (framing,
    /// connection, <c>Date</c>, <c>Server</c>, <c>Age</c>), those the response keeps apart (content type and length, entity
    /// tag), those that keep a response out of the cache anyway (<c>Set-Cookie</c>, <c>Content-Encoding</c>,
    /// <c>Content-Range</c>), <paramref name="statusHeader"/>, and those a middleware before the cache set to the value
    /// they still have (<paramref name="before"/>): that middleware sets them again for every request, a hit too.
    /// </summary>
    public static KeyValuePair<string, string>[]? HeadersToStore(IHeaderDictionary headers, Dictionary<string, StringValues>? before, string? statusHeader)
    {
        List<KeyValuePair<string, string>>? stored = null;
        foreach (var (name, value) in headers)
        {
            if (NotStored.Contains(name) || string.Equals(name, statusHeader, StringComparison.OrdinalIgnoreCase)
                || (before is not null && before.TryGetValue(name, out var earlier) && earlier.Equals(value)))
            {
                continue;
            }

            foreach (var one in value)
            {
                (stored ??= []).Add(new(name, one ?? ""));
            }
        }

        return stored?.ToArray();
    }

    /// <summary>The headers present before the handler ran, for <see cref="HeadersToStore"/>; null when there are none.</summary>
    public static Dictionary<string, StringValues>? Snapshot(IHeaderDictionary headers) =>
        headers.Count == 0 ? null : new Dictionary<string, StringValues>(headers, StringComparer.OrdinalIgnoreCase);

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

        var notModified = EntityTag is not null && IsNotModified(httpContext.Request);
        if (StoredHeaders is not null)
        {
            WriteStoredHeaders(response.Headers, notModified);
        }

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
        response.ContentLength = Body.Length;
    }

    /// <summary>This response as one that is not shared: no entry, and no request that joined its miss gets it.</summary>
    public CachedResponse Personal() => new(StatusCode, ContentType, Body) { IsShareable = false, Headers = Headers, StoredHeaders = StoredHeaders };

    /// <summary>
    /// This response as an entry of the cache: with <paramref name="handlerEntityTag"/> when the handler set a valid
    /// one, else with a strong tag hashed from its status, content type, headers and body, once.
    /// </summary>
    public CachedResponse AsEntry(string? handlerEntityTag)
    {
        var tag = handlerEntityTag is { Length: <= MaximumEntityTagLength } && EntityTagHeaderValue.TryParse(handlerEntityTag, out var parsed) && !parsed.Equals(EntityTagHeaderValue.Any)
            ? parsed.ToString()
            : HashEntityTag(StatusCode, ContentType, Body.Span, StoredHeaders);
        return new CachedResponse(StatusCode, ContentType, Body, tag) { IsShareable = IsShareable, Headers = Headers, StoredHeaders = StoredHeaders };
    }

    /// <summary>This response as anyone but its renderer gets it: without what only its renderer's response carried.</summary>
    public CachedResponse Shared() => Headers is null ? this : new CachedResponse(StatusCode, ContentType, Body, EntityTag) { IsShareable = IsShareable, StoredHeaders = StoredHeaders };

    public byte[] Encode()
    {
        var type = Encoding.UTF8.GetBytes(ContentType ?? "");
        var tag = Encoding.UTF8.GetBytes(EntityTag ?? throw new InvalidOperationException("Only a response with an entity tag is stored."));
        var headers = StoredHeaders ?? [];
        var headersLength = headers.Length == 0 ? 0 : 2 + headers.Sum(static h => 4 + Encoding.UTF8.GetByteCount(h.Key) + Encoding.UTF8.GetByteCount(h.Value));
        var bytes = new byte[7 + type.Length + tag.Length + headersLength + Body.Length];
        bytes[0] = headers.Length == 0 ? Version : VersionWithHeaders;
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(1), (ushort)StatusCode);
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(3), (ushort)type.Length);
        type.CopyTo(bytes, 5);
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(5 + type.Length), (ushort)tag.Length);
        tag.CopyTo(bytes, 7 + type.Length);
        var at = 7 + type.Length + tag.Length;
        if (headers.Length > 0)
        {
            BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(at), (ushort)headers.Length);
            at += 2;
            foreach (var (name, value) in headers)
            {
                at = WriteString(bytes, at, name);
                at = WriteString(bytes, at, value);
            }
        }

        Body.Span.CopyTo(bytes.AsSpan(at));
        return bytes;
    }

    /// <summary>Reads a stored response whose body stays in <paramref name="bytes"/>.</summary>
    public static bool TryDecode(ReadOnlyMemory<byte> bytes, out CachedResponse? response)
    {
        var read = TryRead(bytes.Span, out var status, out var type, out var tag, out var headers, out var bodyStart);
        response = read ? new CachedResponse(status, type, bytes[bodyStart..], tag ?? HashEntityTag(status, type, bytes.Span[bodyStart..], null)) { StoredHeaders = headers } : null;
        return read;
    }

    /// <summary>A strong entity tag: the quoted XXH128 of status, content type, body and the headers stored with it (if any), in hex.</summary>
    internal static string HashEntityTag(int status, string? contentType, ReadOnlySpan<byte> body, KeyValuePair<string, string>[]? headers)
    {
        var type = Encoding.UTF8.GetBytes(contentType ?? "");
        Span<byte> head = stackalloc byte[4];
        BinaryPrimitives.WriteUInt16BigEndian(head, (ushort)status);
        BinaryPrimitives.WriteUInt16BigEndian(head[2..], (ushort)type.Length);
        var hash = new XxHash128();
        hash.Append(head);
        hash.Append(type);
        hash.Append(body);
        foreach (var (name, value) in headers ?? [])
        {
            // Each as its encoding writes it: lengths keep "a: bc" apart from "ab: c".
            var field = new byte[4 + Encoding.UTF8.GetByteCount(name) + Encoding.UTF8.GetByteCount(value)];
            WriteString(field, WriteString(field, 0, name), value);
            hash.Append(field);
        }

        return "\"" + hash.GetCurrentHashAsUInt128().ToString("x32", CultureInfo.InvariantCulture) + "\"";
    }

    private static int WriteString(byte[] bytes, int at, string text)
    {
        var length = Encoding.UTF8.GetBytes(text, bytes.AsSpan(at + 2));
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(at), (ushort)length);
        return at + 2 + length;
    }

    /// <summary>
    /// Writes the stored headers; a 304 gets only those RFC 9110 (section 15.4.5) asks of one, and loses the others a
    /// miss's handler set on this response.
    /// </summary>
    private void WriteStoredHeaders(IHeaderDictionary headers, bool notModified)
    {
        string? previous = null;
        foreach (var (name, value) in StoredHeaders!)
        {
            if (notModified && !NotModifiedCarries.Contains(name))
            {
                headers.Remove(name);
            }
            else if (string.Equals(name, previous, StringComparison.OrdinalIgnoreCase))
            {
                headers.Append(name, value);
            }
            else
            {
                headers[name] = value;
            }

            previous = name;
        }
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

    private static bool TryRead(ReadOnlySpan<byte> bytes, out int status, out string? type, out string? tag, out KeyValuePair<string, string>[]? headers, out int bodyStart)
    {
        (status, type, tag, headers, bodyStart) = (0, null, null, null, 0);
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
            if (bytes.Length < bodyStart + 2)
            {
                return false;
            }

            headers = new KeyValuePair<string, string>[BinaryPrimitives.ReadUInt16BigEndian(bytes[bodyStart..])];
            bodyStart += 2;
            for (var i = 0; i < headers.Length; i++)
            {
                if (!TryReadString(bytes, ref bodyStart, out var name) || !TryReadString(bytes, ref bodyStart, out var value))
                {
                    return false;
                }

                headers[i] = new(name, value);
            }
        }

        status = BinaryPrimitives.ReadUInt16BigEndian(bytes[1..]);
        type = typeLength == 0 ? null : Encoding.UTF8.GetString(bytes.Slice(5, typeLength));
        return true;
    }

    private static bool TryReadString(ReadOnlySpan<byte> bytes, ref int at, out string text)
    {
        text = "";
        if (bytes.Length < at + 2 || bytes.Length < at + 2 + BinaryPrimitives.ReadUInt16BigEndian(bytes[at..]))
        {
            return false;
        }

        var length = BinaryPrimitives.ReadUInt16BigEndian(bytes[at..]);
        text = Encoding.UTF8.GetString(bytes.Slice(at + 2, length));
        at += 2 + length;
        return true;
    }
}
