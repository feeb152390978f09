namespace RcAspNet.Stores;

/// <summary>What an attempt at a fleet lock found (<see cref="IRcStore.TryLockAsync"/>).</summary>
internal enum LockTaken
{
    /// <summary>The lock is this caller's until it releases it or its lifetime passes.</summary>
    Taken,

    /// <summary>Another caller holds it.</summary>
    Held,

    /// <summary>The store could not be asked: a store failure is not a reason to wait, so the caller goes on without it.</summary>
    Unavailable,
}
