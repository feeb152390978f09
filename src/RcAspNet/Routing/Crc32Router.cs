using System.Globalization;
using System.IO.Hashing;
using System.Numerics;
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
        if (SameNumbers(_shards).FirstOrDefault() is { } same)
        {
            throw new ArgumentException(SameNumberRule(same), nameof(shards));
        }

        if (IsNumeric(_shards))
        {
            Array.Sort(_shards, static (a, b) => Number(a).CompareTo(Number(b)));
        }
        else
        {
            Array.Sort(_shards, StringComparer.Ordinal);
        }
    }

    /// <summary>
    /// The groups of integer shard names that are one number ("1" and "01"): rc keys integer hosts by their value, so it
    /// would have one host where these are two, and their sorted order, which routing indexes, would be undecided.
    /// </summary>
    internal static IEnumerable<string[]> SameNumbers(IReadOnlyCollection<string> shards) => IsNumeric(shards)
        ? shards.GroupBy(Number).Where(static g => g.Count() > 1).Select(static g => g.ToArray())
        : [];

    /// <summary>The rule a group of <see cref="SameNumbers"/> breaks, naming its shards.</summary>
    internal static string SameNumberRule(IEnumerable<string> same) =>
        $"Shard names {string.Join(" and ", same)} are one number: with CRC32 routing, integer shard names are rc's integer hosts, so give each a number of its own.";

    /// <summary>Whether every name is an integer, of any size, as Python's are.</summary>
    private static bool IsNumeric(IEnumerable<string> shards) =>
        shards.All(static s => BigInteger.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _));

    private static BigInteger Number(string shard) => BigInteger.Parse(shard, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);

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
