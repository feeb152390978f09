namespace RcAspNet.Stores;

/// <summary>
/// The key of the lock that decides who in a fleet loads an entry: <c>rc-lock:</c> before the entry's key, in the
/// entry's own hash slot (<see cref="CompanionKey"/>). Only a key with a <c>}</c> and no tag of its own cannot be tagged
/// so; its lock lives elsewhere, which is still a lock.
/// </summary>
internal static class FleetLockKey
{
    private const string Prefix = "rc-lock:";

    public static string For(string key) => CompanionKey.InSlotOf(Prefix, key) ?? Prefix + key;
}
