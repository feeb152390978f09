using RcAspNet.Stores.Redis;

namespace RcAspNet.Stores;

/// <summary>
/// The key of the lock that decides who in a fleet loads an entry: <c>rc-lock:</c> before the entry's key, in the
/// entry's own hash slot so that a cluster keeps both on one node (the entry's <c>{hash tag}</c> if it has one, else the
/// whole key as the tag). Only a key with a <c>}</c> and no tag of its own cannot be tagged so; its lock lives elsewhere,
/// which is still a lock.
/// </summary>
internal static class FleetLockKey
{
    private const string Prefix = "rc-lock:";

    public static string For(string key)
    {
        var slot = HashSlot.Of(key);
        var plain = Prefix + key;
        if (HashSlot.Of(plain) == slot)
        {
            return plain;
        }

        return key.Contains('}', StringComparison.Ordinal) ? plain : $"{Prefix}{{{key}}}";
    }
}
