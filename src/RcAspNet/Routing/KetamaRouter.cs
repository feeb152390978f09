using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using RcAspNet.Routing;

namespace RcAspNet;

/// <summary>
/// rc's <c>RedisConsistentHashRouter</c>: a ketama ring with 160 points per shard (40 MD5 digests of
/// <c>&lt;HostConfig db=D host=H port=P unix_socket_path=U&gt;-i-salt</c>, 4 little-endian words each). A key goes
/// to the first point strictly greater than the first little-endian word of its MD5, wrapping to the first point.
/// </summary>
internal sealed class KetamaRouter : IRcRouter
{
    private const int DigestsPerShard = 40;

    private readonly string[] _shards;
    private readonly uint[] _points;
    private readonly int[] _owners;

    /// <summary>Creates a ring over the given shards; a shard's place on the ring depends on its identity (<see cref="Identity"/>), not its name.</summary>
    /// <param name="shards">The shards by name, each with its ring identity; at least one, no two with the same identity.</param>
    public KetamaRouter(IEnumerable<KeyValuePair<string, string>> shards)
    {
        ArgumentNullException.ThrowIfNull(shards);
        var list = shards.ToArray();
        _shards = RouterHelpers.CheckNames(list.Select(static s => s.Key), nameof(shards));
        var identities = list.Select(static s => s.Value).ToArray();
        if (identities.Distinct(StringComparer.Ordinal).Count() != identities.Length)
        {
            throw new ArgumentException("Ketama places a shard by its host, port, db and socket path: two shards share them.", nameof(shards));
        }

        var ring = new SortedDictionary<uint, int>();
        Span<byte> digest = stackalloc byte[16];
        for (var shard = 0; shard < list.Length; shard++)
        {
            for (var i = 0; i < DigestsPerShard; i++)
            {
                MD5.HashData(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{identities[shard]}-{i}-salt")), digest);
                for (var word = 0; word < 4; word++)
                {
                    ring[BinaryPrimitives.ReadUInt32LittleEndian(digest.Slice(word * 4, 4))] = shard;
                }
            }
        }

        _points = [.. ring.Keys];
        _owners = [.. ring.Values];
    }

    /// <inheritdoc/>
    public IReadOnlyList<string> Shards => _shards;

    /// <inheritdoc/>
    public int GetShard(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var hash = RouterHelpers.HashUtf8(key, static bytes =>
        {
            Span<byte> digest = stackalloc byte[16];
            MD5.HashData(bytes, digest);
            return BinaryPrimitives.ReadUInt32LittleEndian(digest);
        });

        // Python's bisect.bisect: the first point strictly greater than the hash.
        var index = Array.BinarySearch(_points, hash);
        index = index >= 0 ? index + 1 : ~index;
        return _owners[index == _points.Length ? 0 : index];
    }

    /// <summary>rc's <c>HostConfig.__repr__</c>: the identity a shard has on the ring.</summary>
    public static string Identity(string host, int port, int db, string? unixSocketPath) => string.Create(
        CultureInfo.InvariantCulture,
        $"<HostConfig db={db} host={host} port={port} unix_socket_path={unixSocketPath ?? "None"}>");
}
