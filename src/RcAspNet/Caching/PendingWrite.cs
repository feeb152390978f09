namespace RcAspNet.Caching;

/// <summary>
/// An entry about to be written by a multi-key write: its key, its serialized value, when it expires and its tags; for
/// what a load computed, the key's change mark when the load began (<see cref="CacheNamespace.ChangeMark"/>), so that the
/// write never undoes a change this process made meanwhile.
/// </summary>
internal readonly record struct PendingWrite(string Key, byte[] Value, EntryTiming Timing, IReadOnlyList<string>? Tags, long? Since = null);
