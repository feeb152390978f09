using System.Buffers.Binary;

namespace RcAspNet.Caching;

/// <summary>
/// How <see cref="RcDistributedCache"/> lays an entry out in the store. An entry without sliding expiration is
/// exactly its bytes, so rc's Python clients read it as they read their own. An entry with sliding expiration
/// carries a 20-byte header before its bytes, so a read learns how far to renew it from the same round trip:
/// <c>00 'R' 'C' 01</c>, the sliding window in milliseconds and the absolute deadline in Unix milliseconds (0 for
/// none), both little-endian 64-bit. A value that itself begins with <c>00 'R' 'C'</c> (which neither JSON nor
/// pickle ever does) is stored under a header with no sliding window, so that it reads back unchanged.
/// </summary>
internal static class EntryEnvelope
{
    public const int HeaderSize = 20;
    private const byte Version = 1;

    public static bool NeedsHeader(ReadOnlySpan<byte> value) => HasMagic(value);

    public static byte[] Wrap(ReadOnlySpan<byte> value, TimeSpan sliding, DateTimeOffset? absolute)
    {
        var entry = new byte[HeaderSize + value.Length];
        entry[0] = 0;
        entry[1] = (byte)'R';
        entry[2] = (byte)'C';
        entry[3] = Version;
        BinaryPrimitives.WriteInt64LittleEndian(entry.AsSpan(4), (long)sliding.TotalMilliseconds);
        BinaryPrimitives.WriteInt64LittleEndian(entry.AsSpan(12), absolute?.ToUnixTimeMilliseconds() ?? 0);
        value.CopyTo(entry.AsSpan(HeaderSize));
        return entry;
    }

    /// <summary>Reads an entry as the store returned it.</summary>
    /// <returns><see cref="EntryKind.Plain"/> for bare bytes, <see cref="EntryKind.Wrapped"/> with the header's fields, or <see cref="EntryKind.Corrupt"/>.</returns>
    public static EntryKind Read(ReadOnlySpan<byte> entry, out TimeSpan sliding, out DateTimeOffset? absolute)
    {
        sliding = TimeSpan.Zero;
        absolute = null;
        if (!HasMagic(entry))
        {
            return EntryKind.Plain;
        }

        if (entry.Length < HeaderSize || entry[3] != Version)
        {
            return EntryKind.Corrupt;
        }

        var slidingMs = BinaryPrimitives.ReadInt64LittleEndian(entry[4..]);
        var absoluteMs = BinaryPrimitives.ReadInt64LittleEndian(entry[12..]);
        if (slidingMs < 0 || absoluteMs < 0)
        {
            return EntryKind.Corrupt;
        }

        sliding = TimeSpan.FromMilliseconds(slidingMs);
        absolute = absoluteMs == 0 ? null : DateTimeOffset.FromUnixTimeMilliseconds(absoluteMs);
        return EntryKind.Wrapped;
    }

    private static bool HasMagic(ReadOnlySpan<byte> value) => value.Length >= 3 && value[0] == 0 && value[1] == (byte)'R' && value[2] == (byte)'C';
}
