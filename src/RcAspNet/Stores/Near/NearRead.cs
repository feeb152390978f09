namespace RcAspNet.Stores.Near;

/// <summary>A read from Redis begun to fill the near cache: its result is kept only if nothing invalidated the key meanwhile.</summary>
internal sealed record NearRead(string Key, InvalidationLink Link, long Epoch, long Ticket);
