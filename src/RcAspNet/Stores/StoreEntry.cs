namespace RcAspNet.Stores;

/// <summary>One entry of a multi-key write.</summary>
internal readonly record struct StoreEntry(string Key, byte[] Value, TimeSpan TimeToLive);
