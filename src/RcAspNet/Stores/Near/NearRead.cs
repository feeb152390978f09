using RcAspNet.Stores.Redis;

namespace RcAspNet.Stores.Near;

/// <summary>A read from Redis begun to fill the near cache, one of the <see cref="Reads"/> of its key under way at once.</summary>
internal sealed class NearRead(string key, ServerLink link, long epoch, ReadsUnderWay reads, long began)
{
    private int _ended;

    public string Key { get; } = key;

    public ServerLink Link { get; } = link;

    public long Epoch { get; } = epoch;

    public ReadsUnderWay Reads { get; } = reads;

    /// <summary>Gets when the read was sent (UTC ticks): the key's TTL counts from no earlier than this.</summary>
    public long Began { get; } = began;

    /// <summary>Marks the read ended; true the first time only.</summary>
    public bool End() => Interlocked.Exchange(ref _ended, 1) == 0;
}
