namespace RcAspNet.SyncBurst;

/// <summary>One burst: how many work items reached the gate, how many pool threads there were then, and every call made after it opened.</summary>
internal sealed record BurstResult(string Name, int Arrived, int PoolThreadsAtGate, long PendingAtGate, IReadOnlyList<SyncCall> Calls);
