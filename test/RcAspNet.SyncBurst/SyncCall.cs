namespace RcAspNet.SyncBurst;

/// <summary>One synchronous call: what it was, on which key, how long it took, and how it ended.</summary>
/// <param name="Op">Get, TryGet, Refresh, Set or Remove.</param>
/// <param name="Key">The key, without the namespace.</param>
/// <param name="Ms">Milliseconds from just before the call to just after it.</param>
/// <param name="Hit">For a read, whether it returned the value written; otherwise null.</param>
/// <param name="Error">The exception the call threw, if it threw.</param>
/// <param name="Frozen">Whether the key lives on the shard the parent froze.</param>
internal sealed record SyncCall(string Op, string Key, double Ms, bool? Hit, string? Error, bool Frozen);
