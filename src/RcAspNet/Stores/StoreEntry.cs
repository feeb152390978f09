namespace RcAspNet.Stores;

/// <summary>One entry of a multi-key write; with a <paramref name="Lease"/>, what a load computed, written under its lease.</summary>
internal readonly record struct StoreEntry(string Key, byte[] Value, TimeSpan TimeToLive, FillLease? Lease = null);
