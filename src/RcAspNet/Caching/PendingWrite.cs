namespace RcAspNet.Caching;

/// <summary>An entry about to be written by a multi-key write: its key, its serialized value, when it expires and its tags.</summary>
internal readonly record struct PendingWrite(string Key, byte[] Value, EntryTiming Timing, IReadOnlyList<string>? Tags);
