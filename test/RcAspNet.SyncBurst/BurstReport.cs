namespace RcAspNet.SyncBurst;

/// <summary>
/// The one line of JSON the program prints. <see cref="Rewrites"/> counts writes made again before the bursts because
/// the first one was dropped (see Program.cs), <see cref="Misses"/> counts reads that did not return what was written
/// (keys on a frozen shard excepted), <see cref="Errors"/> calls that threw, <see cref="FrozenHits"/> reads of a frozen
/// shard's keys that did return a value (the freeze did not take), and <see cref="MaxMs"/> is the slowest call;
/// <see cref="Failures"/> names each miss and each error.
/// </summary>
internal sealed record BurstReport(
    string Store,
    string Namespace,
    int MinWorkerThreads,
    int ProcessorCount,
    int Rewrites,
    int Misses,
    int Errors,
    int FrozenCalls,
    int FrozenHits,
    double MaxMs,
    IReadOnlyList<string> Failures,
    IReadOnlyList<BurstResult> Bursts);
