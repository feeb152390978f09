using RcAspNet.Stores;

namespace RcAspNet.Caching;

/// <summary>
/// An entry about to be written by a multi-key write: its key, its serialized value, when it expires and its tags; for
/// what a load computed, the key's change mark when the load began (<see cref="CacheNamespace.ChangeMark"/>), so that the
/// write never undoes a change this process made meanwhile, and its fill lease, so that it never undoes another
/// process's removal either.
/// </summary>
/// <param name="Key">The key.</param>
/// <param name="Value">The serialized value.</param>
/// <param name="Timing">When it expires.</param>
/// <param name="Tags">Its tags, if any.</param>
/// <param name="Since">For a load, the key's change mark when the load began.</param>
/// <param name="Lease">For a load, the token of the key's fill lease (<see cref="CacheNamespace.LeaseManyAsync"/>); null when the store needs none.</param>
/// <param name="Expect">For a load, what its write must find (<see cref="CacheNamespace.Expectation"/>); null when its read is unknown (it failed), and a store with leases then does not write it.</param>
internal readonly record struct PendingWrite(string Key, byte[] Value, EntryTiming Timing, IReadOnlyList<string>? Tags, long? Since = null, string? Lease = null, byte[]? Expect = null)
{
    /// <summary>Gets the fill lease the write checks, if any.</summary>
    public FillLease? FillLease => Lease is null ? null : Stores.FillLease.For(Lease, Expect);
}
