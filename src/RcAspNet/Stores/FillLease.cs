using System.Security.Cryptography;
using System.Text;

namespace RcAspNet.Stores;

/// <summary>
/// What a load holds while its factory runs, so that no removal of the key by another process (or, on the embedded
/// store, by this one) is undone by the load's write: taken before the factory (<see cref="IRcStore.LeaseAsync"/>),
/// on Redis under a key beside the entry's (<see cref="KeyOf"/>), revoked by every removal of the entry, and checked by
/// the write in the same atomic step. The embedded store's lease is a count of removals (<c>MemoryStore.LeaseAsync</c>).
/// </summary>
/// <param name="Token">The lease's token; <see cref="Unavailable"/> when it could not be taken, and the load is then not written.</param>
/// <param name="Expect">
/// What the load's read found, which the write must still find (the cache layer makes it): empty for nothing (the
/// write goes only where the key holds no string, so a value another process wrote meanwhile stays); <c>T</c> and a
/// tracked entry's header up to its freshness (36 bytes), or <c>D</c> and the hex SHA-1 of the entry's bytes: the write
/// goes over that same entry, or where the key has gone.
/// </param>
internal readonly record struct FillLease(string Token, byte[] Expect)
{
    /// <summary>The token of a lease that could not be taken (the server failed), or of a load whose read is unknown: the load is answered, not stored.</summary>
    public const string Unavailable = "";

    /// <summary>What every lease's key begins with.</summary>
    public const string Prefix = "rc-fill:";

    /// <summary>How long a lease lives on Redis after its last taker: a factory that runs longer has its value answered, not stored.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(10);

    /// <summary>Gets a lease that was not taken: the load is answered, not written.</summary>
    public static FillLease NotTaken => new(Unavailable, []);

    /// <summary>Gets whether the write may be tried: the lease was taken.</summary>
    public bool IsHeld => Token.Length > 0;

    /// <summary>The lease's key for <paramref name="key"/>, in its hash slot; null when it cannot share it (the key is then filled without a lease).</summary>
    public static string? KeyOf(string key) => CompanionKey.InSlotOf(Prefix, key);

    /// <summary>The lease of <paramref name="token"/>, for a write that must find <paramref name="expect"/>; not taken when what the load's read found is unknown (null).</summary>
    public static FillLease For(string token, byte[]? expect) => expect is null ? NotTaken : new(token, expect);

    /// <summary>
    /// Whether a key that holds <paramref name="entry"/> (null: nothing) still holds what the load's read found
    /// (<see cref="Expect"/>), as <c>RedisCommands.FillScript</c> checks it on Redis.
    /// </summary>
    public bool Finds(byte[]? entry)
    {
        if (entry is null)
        {
            // Nothing, as a miss found it, or no more of the entry the read found.
            return true;
        }

        if (Expect.Length == 0)
        {
            return false;
        }

        var expected = Expect.AsSpan(1);
        return Expect[0] == (byte)'T'
            ? entry.AsSpan().StartsWith(expected)
            : expected.SequenceEqual(Encoding.ASCII.GetBytes(Convert.ToHexStringLower(SHA1.HashData(entry))));
    }
}
