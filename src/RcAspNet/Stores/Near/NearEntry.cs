using RcAspNet.Stores.Redis;

namespace RcAspNet.Stores.Near;

/// <summary>A copy of one Redis value, valid while the link it came through stays up in the same epoch, and until the key's TTL in Redis runs out.</summary>
internal sealed class NearEntry(string key, byte[] value, ServerLink link, long epoch, long expiresAt, long now) : ICachedCopy
{
    private long _lastUse = now;
    private int _read;

    public string Key { get; } = key;

    public byte[] Value { get; } = value;

    public ServerLink Link { get; } = link;

    public long Epoch { get; } = epoch;

    /// <summary>Gets when the key expires in Redis, in ticks of the near cache's monotonic clock.</summary>
    public long ExpiresAt { get; } = expiresAt;

    public long Size { get; } = 96 + (key.Length * 2L) + value.Length;

    public long LastUse => Volatile.Read(ref _lastUse);

    public bool WasRead => Volatile.Read(ref _read) != 0;

    public void Used(long now)
    {
        Volatile.Write(ref _lastUse, now);
        Volatile.Write(ref _read, 1);
    }
}
