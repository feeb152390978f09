using System.Buffers.Binary;
using System.Text;

namespace RcAspNet.Caching;

/// <summary>
/// How an entry is laid out in the store. An entry without sliding expiration or tags is exactly its bytes, so rc's
/// Python clients read it as they read their own. Otherwise a header comes before the bytes, so that a read learns from
/// the same round trip how far to renew the entry and which tags it carries:
/// <list type="bullet">
/// <item><c>00 'R' 'C' 01</c>, the sliding window in milliseconds and the absolute deadline in Unix milliseconds (0 for
/// none), both little-endian 64-bit (20 bytes), for an entry with sliding expiration;</item>
/// <item><c>00 'R' 'C' 02</c>, the same two fields, then the number of tags (little-endian 16-bit) and each tag as its
/// UTF-8 length (little-endian 16-bit) and bytes, for an entry with tags: while an invalidation of one of its tags
/// cannot reach the tag's server, the entry is a miss, wherever it is read from.</item>
/// </list>
/// A value that itself begins with <c>00 'R' 'C'</c> (which neither JSON nor pickle ever does) is stored under a header
/// with no sliding window, so that it reads back unchanged.
/// </summary>
internal static class EntryEnvelope
{
    public const int HeaderSize = 20;
    private const byte SlidingVersion = 1;
    private const byte TaggedVersion = 2;

    public static bool NeedsHeader(ReadOnlySpan<byte> value) => HasMagic(value);

    public static byte[] Wrap(ReadOnlySpan<byte> value, TimeSpan sliding, DateTimeOffset? absolute, IReadOnlyList<string>? tags = null)
    {
        var tagBytes = 0;
        foreach (var tag in tags ?? [])
        {
            tagBytes += 2 + Encoding.UTF8.GetByteCount(tag);
        }

        var headerSize = tags is { Count: > 0 } ? HeaderSize + 2 + tagBytes : HeaderSize;
        var entry = new byte[headerSize + value.Length];
        entry[0] = 0;
        entry[1] = (byte)'R';
        entry[2] = (byte)'C';
        entry[3] = headerSize == HeaderSize ? SlidingVersion : TaggedVersion;
        BinaryPrimitives.WriteInt64LittleEndian(entry.AsSpan(4), (long)sliding.TotalMilliseconds);
        BinaryPrimitives.WriteInt64LittleEndian(entry.AsSpan(12), absolute?.ToUnixTimeMilliseconds() ?? 0);
        if (headerSize > HeaderSize)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(entry.AsSpan(HeaderSize), (ushort)tags!.Count);
            var at = HeaderSize + 2;
            foreach (var tag in tags)
            {
                var length = Encoding.UTF8.GetBytes(tag, entry.AsSpan(at + 2));
                BinaryPrimitives.WriteUInt16LittleEndian(entry.AsSpan(at), (ushort)length);
                at += 2 + length;
            }
        }

        value.CopyTo(entry.AsSpan(headerSize));
        return entry;
    }

    /// <summary>Reads an entry as the store returned it.</summary>
    /// <returns>
    /// <see cref="EntryKind.Plain"/> for bare bytes, <see cref="EntryKind.Wrapped"/> with the header's fields and where
    /// the value begins, or <see cref="EntryKind.Corrupt"/>.
    /// </returns>
    public static EntryKind Read(ReadOnlySpan<byte> entry, out TimeSpan sliding, out DateTimeOffset? absolute, out int valueOffset)
    {
        sliding = TimeSpan.Zero;
        absolute = null;
        valueOffset = 0;
        if (!HasMagic(entry))
        {
            return EntryKind.Plain;
        }

        if (entry.Length < HeaderSize || entry[3] is not (SlidingVersion or TaggedVersion))
        {
            return EntryKind.Corrupt;
        }

        var slidingMs = BinaryPrimitives.ReadInt64LittleEndian(entry[4..]);
        var absoluteMs = BinaryPrimitives.ReadInt64LittleEndian(entry[12..]);
        valueOffset = entry[3] == SlidingVersion ? HeaderSize : EndOfTags(entry);
        if (slidingMs < 0 || absoluteMs < 0 || valueOffset < 0)
        {
            return EntryKind.Corrupt;
        }

        sliding = TimeSpan.FromMilliseconds(slidingMs);
        absolute = absoluteMs == 0 ? null : DateTimeOffset.FromUnixTimeMilliseconds(absoluteMs);
        return EntryKind.Wrapped;
    }

    /// <summary>Whether a wrapped entry carries a tag that <paramref name="pending"/> says is being invalidated.</summary>
    public static bool CarriesAny(ReadOnlySpan<byte> entry, Func<string, bool> pending)
    {
        if (entry.Length <= HeaderSize + 2 || entry[3] != TaggedVersion)
        {
            return false;
        }

        var count = BinaryPrimitives.ReadUInt16LittleEndian(entry[HeaderSize..]);
        var at = HeaderSize + 2;
        for (var i = 0; i < count; i++)
        {
            var length = BinaryPrimitives.ReadUInt16LittleEndian(entry[at..]);
            if (pending(Encoding.UTF8.GetString(entry.Slice(at + 2, length))))
            {
                return true;
            }

            at += 2 + length;
        }

        return false;
    }

    /// <summary>Where the value of a tagged entry begins, or -1 when its tags run past its end.</summary>
    private static int EndOfTags(ReadOnlySpan<byte> entry)
    {
        if (entry.Length < HeaderSize + 2)
        {
            return -1;
        }

        var count = BinaryPrimitives.ReadUInt16LittleEndian(entry[HeaderSize..]);
        var at = HeaderSize + 2;
        for (var i = 0; i < count; i++)
        {
            if (at + 2 > entry.Length)
            {
                return -1;
            }

            at += 2 + BinaryPrimitives.ReadUInt16LittleEndian(entry[at..]);
        }

        return at <= entry.Length ? at : -1;
    }

    private static bool HasMagic(ReadOnlySpan<byte> value) => value.Length >= 3 && value[0] == 0 && value[1] == (byte)'R' && value[2] == (byte)'C';
}
