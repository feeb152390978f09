namespace RcAspNet;

/// <summary>Who runs a factory when many callers miss the same key at once.</summary>
public enum RcStampedeProtection
{
    /// <summary>One caller per key in each process; every process of a fleet may run it once.</summary>
    Process,

    /// <summary>
    /// One caller per key in the whole fleet: a lock in Redis beside the key (<c>SET NX PX</c> with a token, released by
    /// compare-and-delete) decides who; the others wait for its value.
    /// </summary>
    Fleet,
}
