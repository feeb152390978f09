using System.Buffers.Binary;
using System.Text;

namespace RcAspNet.Caching;

/// <summary>
/// How an entry is laid out in the store. An entry without sliding expiration, tags or tracked freshness is exactly its
/// bytes, so rc's Python clients read it as they read their own. Otherwise a header comes before the bytes, so that a
/// read learns from the same round trip how far to renew the entry, which tags it carries and how fresh it is. Every
/// header begins with <c>00 'R' 'C'</c> and a version, then the sliding window in milliseconds and the absolute deadline
/// in Unix milliseconds (0 for none), both little-endian 64-bit:
/// <list type="bullet">
/// <item><c>01</c>: nothing more (20 bytes), for an entry with sliding expiration;</item>
/// <item><c>02</c>: the number of tags (little-endian 16-bit) and each tag as its UTF-8 length (little-endian 16-bit)
/// and bytes, for an entry with tags: while an invalidation of one of its tags cannot reach the tag's server, the entry
/// is a miss, wherever it is read from;</item>
/// <item><c>03</c>: when it was written and until when it is fresh (Unix milliseconds, little-endian 64-bit), then tags
/// as in <c>02</c>, for an entry kept past its freshness as a fail-safe fallback, or refreshed before it ends.</item>
/// </list>
/// A value that itself begins with <c>00 'R' 'C'</c> (which neither JSON nor pickle ever does) is stored under a header
/// with no sliding window, so that it reads back unchanged.
/// </summary>
internal static class EntryEnvelope
{
    public const int HeaderSize = 20;
    private const int FreshnessSize = 16;

    /// <summary>How long the header of a tracked entry is up to its freshness (before its tags).</summary>
    public const int TrackedHeaderSize = HeaderSize + FreshnessSize;
    private const byte SlidingVersion = 1;
    private const byte TaggedVersion = 2;
    private const byte TrackedVersion = 3;

    /// <summary>The last moment a <see cref="DateTimeOffset"/> holds, in Unix milliseconds (9999-12-31T23:59:59.999Z).</summary>
    private const long LatestUnixMilliseconds = 253_402_300_799_999;

    /// <summary>The longest <see cref="TimeSpan"/>, in whole milliseconds.</summary>
    private const long LongestMilliseconds = long.MaxValue / TimeSpan.TicksPerMillisecond;

    public static bool NeedsHeader(ReadOnlySpan<byte> value) => HasMagic(value);

    /// <param name="value">The value.</param>
    /// <param name="sliding">The sliding window; zero for none.</param>
    /// <param name="absolute">The absolute deadline of a sliding entry.</param>
    /// <param name="tags">The tags the entry carries.</param>
    /// <param name="writtenAt">When it is written (Unix milliseconds), for tracked freshness; 0 for none.</param>
    /// <param name="freshUntil">Until when it is fresh (Unix milliseconds); 0 for no tracked freshness.</param>
    public static byte[] Wrap(ReadOnlySpan<byte> value, TimeSpan sliding, DateTimeOffset? absolute, IReadOnlyList<string>? tags = null, long writtenAt = 0, long freshUntil = 0)
    {
        var tracked = freshUntil > 0;
        var tagged = tags is { Count: > 0 };
        var tagBytes = 0;
        foreach (var tag in tags ?? [])
        {
            tagBytes += 2 + Encoding.UTF8.GetByteCount(tag);
        }

        var tagsAt = HeaderSize + (tracked ? FreshnessSize : 0);
        var headerSize = tracked || tagged ? tagsAt + 2 + tagBytes : HeaderSize;
        var entry = new byte[headerSize + value.Length];
        entry[0] = 0;
        entry[1] = (byte)'R';
        entry[2] = (byte)'C';
        entry[3] = tracked ? TrackedVersion : tagged ? TaggedVersion : SlidingVersion;
        BinaryPrimitives.WriteInt64LittleEndian(entry.AsSpan(4), (long)sliding.TotalMilliseconds);
        BinaryPrimitives.WriteInt64LittleEndian(entry.AsSpan(12), absolute?.ToUnixTimeMilliseconds() ?? 0);
        if (tracked)
        {
            BinaryPrimitives.WriteInt64LittleEndian(entry.AsSpan(HeaderSize), writtenAt);
            BinaryPrimitives.WriteInt64LittleEndian(entry.AsSpan(HeaderSize + 8), freshUntil);
        }

        if (headerSize > HeaderSize)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(entry.AsSpan(tagsAt), (ushort)(tags?.Count ?? 0));
            var at = tagsAt + 2;
            foreach (var tag in tags ?? [])
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
    /// <see cref="EntryKind.Plain"/> for bare bytes, <see cref="EntryKind.Wrapped"/> with the header's fields, or
    /// <see cref="EntryKind.Corrupt"/>.
    /// </returns>
    public static EntryKind Read(ReadOnlySpan<byte> entry, out EntryHeader header)
    {
        header = default;
        if (!HasMagic(entry))
        {
            return EntryKind.Plain;
        }

        if (entry.Length < HeaderSize || entry[3] is not (SlidingVersion or TaggedVersion or TrackedVersion))
        {
            return EntryKind.Corrupt;
        }

        var slidingMs = BinaryPrimitives.ReadInt64LittleEndian(entry[4..]);
        var absoluteMs = BinaryPrimitives.ReadInt64LittleEndian(entry[12..]);
        long writtenAt = 0;
        long freshUntil = 0;
        var tagsAt = 0;
        if (entry[3] == TrackedVersion)
        {
            if (entry.Length < HeaderSize + FreshnessSize)
            {
                return EntryKind.Corrupt;
            }

            writtenAt = BinaryPrimitives.ReadInt64LittleEndian(entry[HeaderSize..]);
            freshUntil = BinaryPrimitives.ReadInt64LittleEndian(entry[(HeaderSize + 8)..]);
            tagsAt = HeaderSize + FreshnessSize;
        }
        else if (entry[3] == TaggedVersion)
        {
            tagsAt = HeaderSize;
        }

        var valueOffset = tagsAt == 0 ? HeaderSize : EndOfTags(entry, tagsAt);
        if (slidingMs < 0 || absoluteMs < 0 || valueOffset < 0 || writtenAt < 0 || freshUntil < 0
            || slidingMs > LongestMilliseconds || absoluteMs > LatestUnixMilliseconds)
        {
            // Out of what a TimeSpan or a DateTimeOffset holds: no entry of this library's, nor of rc's.
            return EntryKind.Corrupt;
        }

        var tagged = tagsAt > 0 && BinaryPrimitives.ReadUInt16LittleEndian(entry[tagsAt..]) > 0;
        header = new EntryHeader(
            TimeSpan.FromMilliseconds(slidingMs),
            absoluteMs == 0 ? null : DateTimeOffset.FromUnixTimeMilliseconds(absoluteMs),
            valueOffset,
            tagged ? tagsAt : 0,
            writtenAt,
            freshUntil);
        return EntryKind.Wrapped;
    }

    /// <summary>The tags a wrapped entry carries; none when it carries no tag.</summary>
    public static string[] Tags(ReadOnlySpan<byte> entry, in EntryHeader header)
    {
        if (!header.HasTags)
        {
            return [];
        }

        var tags = new string[BinaryPrimitives.ReadUInt16LittleEndian(entry[header.TagsOffset..])];
        var at = header.TagsOffset + 2;
        for (var i = 0; i < tags.Length; i++)
        {
            var length = BinaryPrimitives.ReadUInt16LittleEndian(entry[at..]);
            tags[i] = Encoding.UTF8.GetString(entry.Slice(at + 2, length));
            at += 2 + length;
        }

        return tags;
    }

    /// <summary>Whether a wrapped entry carries a tag that <paramref name="pending"/> says is being invalidated (a read while one is kept: not the hot path).</summary>
    public static bool CarriesAny(ReadOnlySpan<byte> entry, in EntryHeader header, Func<string, bool> pending) =>
        Array.Exists(Tags(entry, header), tag => pending(tag));

    /// <summary>Where the value of an entry with tags begins, or -1 when its tags run past its end.</summary>
    private static int EndOfTags(ReadOnlySpan<byte> entry, int tagsAt)
    {
        if (entry.Length < tagsAt + 2)
        {
            return -1;
        }

        var count = BinaryPrimitives.ReadUInt16LittleEndian(entry[tagsAt..]);
        var at = tagsAt + 2;
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
