using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Frozen;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace RcAspNet.Endpoints;

/// <summary>
/// The headers a handler set that go with its response wherever it answers (a hit, a fail-safe fallback), as output
/// caching keeps them: each value of each header, in order, and a header the handler removed (one a middleware before
/// the cache set) as a removal. Not kept: those of one sending (framing, connection, <c>Date</c>, <c>Server</c>,
/// <c>Age</c>), those the response keeps apart (content type and length, entity tag), those that keep a response out of
/// the cache anyway (<c>Set-Cookie</c>, <c>Content-Encoding</c>, <c>Content-Range</c>), the cache's status header, and
/// those a middleware before the cache set and the handler left as they were: that middleware sets them again for every
/// request, a hit too. Encoded as
/// <c>count (u16) | (name length (u16) | name (UTF-8) | value length (u16; FFFF for a removal) | value (UTF-8))*</c>.
/// </summary>
internal sealed class HandlerHeaders
{
    private const ushort RemovedMark = ushort.MaxValue;

    private static readonly FrozenSet<string> NotKept = FrozenSet.Create(
        StringComparer.OrdinalIgnoreCase,
        HeaderNames.ContentType, HeaderNames.ContentLength, HeaderNames.ETag, HeaderNames.SetCookie, HeaderNames.ContentEncoding, HeaderNames.ContentRange,
        HeaderNames.Date, HeaderNames.Server, HeaderNames.Age, HeaderNames.TransferEncoding, HeaderNames.Connection, HeaderNames.KeepAlive,
        HeaderNames.Upgrade, HeaderNames.Trailer, HeaderNames.ProxyConnection);

    /// <summary>What a 304 carries of a 200's headers besides its entity tag (RFC 9110, section 15.4.5).</summary>
    private static readonly FrozenSet<string> NotModifiedCarries = FrozenSet.Create(
        StringComparer.OrdinalIgnoreCase, HeaderNames.CacheControl, HeaderNames.ContentLocation, HeaderNames.Expires, HeaderNames.Vary);

    private static readonly SearchValues<char> TokenCharacters = SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

    /// <summary>Control characters, which no header value holds (a tab may).</summary>
    private static readonly SearchValues<char> ControlCharacters = SearchValues.Create(
        [.. Enumerable.Range(0, 0x20).Where(static c => c != '\t').Select(static c => (char)c), '\u007f']);

    public HandlerHeaders(KeyValuePair<string, string?>[] fields) => Fields = fields;

    /// <summary>Gets each value set (null: the header was removed), in order: a header of several values once per value, one after another.</summary>
    public KeyValuePair<string, string?>[] Fields { get; }

    /// <summary>Gets whether the headers fit the encoding: at most 65,534 bytes of UTF-8 in every name and value.</summary>
    public bool FitsEncoding => Fields.Length <= ushort.MaxValue
        && Array.TrueForAll(Fields, static f => Encoding.UTF8.GetByteCount(f.Key) < RemovedMark && (f.Value is null || Encoding.UTF8.GetByteCount(f.Value) < RemovedMark));

    /// <summary>Gets the length of the encoding.</summary>
    public int EncodedLength => 2 + Fields.Sum(static f => 4 + Encoding.UTF8.GetByteCount(f.Key) + (f.Value is null ? 0 : Encoding.UTF8.GetByteCount(f.Value)));

    /// <summary>The headers present before the handler ran, to compare <see cref="Capture"/> against; null when there are none.</summary>
    public static Dictionary<string, StringValues>? Snapshot(IHeaderDictionary headers) =>
        headers.Count == 0 ? null : new Dictionary<string, StringValues>(headers, StringComparer.OrdinalIgnoreCase);

    /// <summary>What of <paramref name="headers"/> goes with the response, against what was there before its handler ran; null for nothing.</summary>
    public static HandlerHeaders? Capture(IHeaderDictionary headers, Dictionary<string, StringValues>? before, string? statusHeader)
    {
        List<KeyValuePair<string, string?>>? fields = null;
        foreach (var (name, value) in headers)
        {
            if (NotKept.Contains(name) || string.Equals(name, statusHeader, StringComparison.OrdinalIgnoreCase)
                || (before is not null && before.TryGetValue(name, out var earlier) && earlier.Equals(value)))
            {
                continue;
            }

            foreach (var one in value)
            {
                (fields ??= []).Add(new(name, one ?? ""));
            }
        }

        foreach (var name in before?.Keys ?? Enumerable.Empty<string>())
        {
            if (!headers.ContainsKey(name) && !NotKept.Contains(name) && !string.Equals(name, statusHeader, StringComparison.OrdinalIgnoreCase))
            {
                (fields ??= []).Add(new(name, null));
            }
        }

        return fields is null ? null : new([.. fields]);
    }

    /// <summary>Writes the encoding at the start of <paramref name="bytes"/>; returns its length.</summary>
    public int Encode(Span<byte> bytes)
    {
        BinaryPrimitives.WriteUInt16BigEndian(bytes, (ushort)Fields.Length);
        var at = 2;
        foreach (var (name, value) in Fields)
        {
            at += WriteString(bytes[at..], name);
            if (value is null)
            {
                BinaryPrimitives.WriteUInt16BigEndian(bytes[at..], RemovedMark);
                at += 2;
            }
            else
            {
                at += WriteString(bytes[at..], value);
            }
        }

        return at;
    }

    /// <summary>
    /// Reads an encoding at <paramref name="at"/> and moves past it. Bytes that no handler's headers could have made (a
    /// name that is no token or is never kept, a value with control characters, a count the bytes cannot hold) are no
    /// encoding: an entry that holds them is a miss, never an answer that fails or says what its handler did not.
    /// </summary>
    public static bool TryDecode(ReadOnlySpan<byte> bytes, ref int at, out HandlerHeaders? headers)
    {
        headers = null;
        if (bytes.Length < at + 2)
        {
            return false;
        }

        var count = BinaryPrimitives.ReadUInt16BigEndian(bytes[at..]);
        if (count == 0 || (bytes.Length - at - 2) / 4 < count)
        {
            return false;
        }

        var fields = new KeyValuePair<string, string?>[count];
        var position = at + 2;
        for (var i = 0; i < count; i++)
        {
            if (!TryReadString(bytes, ref position, removal: false, out var name) || name is null || name.Length == 0
                || name.AsSpan().ContainsAnyExcept(TokenCharacters) || NotKept.Contains(name)
                || !TryReadString(bytes, ref position, removal: true, out var value)
                || (value is not null && value.AsSpan().ContainsAny(ControlCharacters)))
            {
                return false;
            }

            fields[i] = new(name, value);
        }

        at = position;
        headers = new(fields);
        return true;
    }

    /// <summary>
    /// Sets the headers on a response, removals removed. A 304 gets only those it carries (RFC 9110, section 15.4.5); the
    /// others are taken off only where the response holds the handler's own value (a miss answered with 304), not where
    /// a middleware before the cache set its own.
    /// </summary>
    public void WriteTo(IHeaderDictionary headers, bool notModified)
    {
        for (var i = 0; i < Fields.Length;)
        {
            var name = Fields[i].Key;
            var end = i + 1;
            while (end < Fields.Length && string.Equals(Fields[end].Key, name, StringComparison.OrdinalIgnoreCase))
            {
                end++;
            }

            var value = StringValues.Empty;
            if (Fields[i].Value is { } first)
            {
                var values = new string[end - i];
                values[0] = first;
                for (var j = i + 1; j < end; j++)
                {
                    values[j - i] = Fields[j].Value ?? "";
                }

                value = values.Length == 1 ? new StringValues(first) : new StringValues(values);
            }

            if (!notModified || NotModifiedCarries.Contains(name))
            {
                if (value.Count == 0)
                {
                    headers.Remove(name);
                }
                else
                {
                    headers[name] = value;
                }
            }
            else if (value.Count > 0 && headers.TryGetValue(name, out var current) && current.Equals(value))
            {
                headers.Remove(name);
            }

            i = end;
        }
    }

    private static int WriteString(Span<byte> bytes, string text)
    {
        var length = Encoding.UTF8.GetBytes(text, bytes[2..]);
        BinaryPrimitives.WriteUInt16BigEndian(bytes, (ushort)length);
        return 2 + length;
    }

    private static bool TryReadString(ReadOnlySpan<byte> bytes, ref int at, bool removal, out string? text)
    {
        text = null;
        if (bytes.Length < at + 2)
        {
            return false;
        }

        var length = BinaryPrimitives.ReadUInt16BigEndian(bytes[at..]);
        if (length == RemovedMark)
        {
            at += 2;
            return removal;
        }

        if (bytes.Length < at + 2 + length)
        {
            return false;
        }

        text = Encoding.UTF8.GetString(bytes.Slice(at + 2, length));
        at += 2 + length;
        return true;
    }
}
