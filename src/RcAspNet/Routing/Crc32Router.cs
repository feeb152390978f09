using System.Globalization;
using System.IO.Hashing;
using RcAspNet.Routing;

namespace RcAspNet;

/// <summary>
/// rc's <c>RedisCRC32HashRouter</c>: the CRC-32 of the key's UTF-8 bytes, read as a signed 32-bit integer, floor-modulo
/// the shard count, indexes the shard names in sorted order. Names that are all integers sort numerically (rc's hosts
/// are often keyed 0, 1, 2...), other names sort ordinally.
/// </summary>
internal sealed class Crc32Router : IRcRouter
{
    private readonly string[] _shards;

    /// <summary>Creates a router over the given shard names.</summary>
    /// <param name="shards">The shard names; at least one, no duplicates.</param>
    public Crc32Router(IEnumerable<string> shards)
    {
        ArgumentNullException.ThrowIfNull(shards);
        _shards = RouterHelpers.CheckNames(shards, nameof(shards));
        if (_shards.All(static s => long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _)))
        {
            Array.Sort(_shards, static (a, b) => long.Parse(a, CultureInfo.InvariantCulture).CompareTo(long.Parse(b, CultureInfo.InvariantCulture)));
        }
        else
        {
            Array.Sort(_shards, StringComparer.Ordinal);
        }
    }

    /// <inheritdoc/>
    public IReadOnlyList<string> Shards => _shards;

    /// <inheritdoc/>
    public int GetShard(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var hash = (int)RouterHelpers.HashUtf8(key, static bytes => Crc32.HashToUInt32(bytes));
        var count = _shards.Length;
        var pos = hash % count;
        return pos < 0 ? pos + count : pos;
    }
}
