using StackExchange.Redis;

namespace RcAspNet.Stores.Redis;

/// <summary>The fleet locks (<c>Rc:StampedeProtection</c> <c>Fleet</c>): one key beside each entry, in its slot, on its server.</summary>
internal sealed partial class RedisStore
{
    public async ValueTask<LockTaken> TryLockAsync(string key, string token, TimeSpan lifetime, CancellationToken cancellationToken)
    {
        var lockKey = FleetLockKey.For(key);
        var taken = await _calls.RunAsync(
            _topology.NodeOf(lockKey),
            "lock",
            (lockKey, token, lifetime),
            static async (db, s) => (bool?)await db.StringSetAsync(s.lockKey, s.token, RedisCommands.Ttl(s.lifetime), When.NotExists).ConfigureAwait(false),
            null,
            cancellationToken).ConfigureAwait(false);
        return taken switch
        {
            true => LockTaken.Taken,
            false => LockTaken.Held,
            null => LockTaken.Unavailable,
        };
    }

    public ValueTask<bool> RenewLockAsync(string key, string token, TimeSpan lifetime)
    {
        var lockKey = FleetLockKey.For(key);
        return _calls.RunAsync(_topology.NodeOf(lockKey), "lock", (lockKey, token, lifetime), static (db, s) => RedisCommands.RenewLockAsync(db, s.lockKey, s.token, s.lifetime), false, CancellationToken.None);
    }

    public async ValueTask UnlockAsync(string key, string token)
    {
        var lockKey = FleetLockKey.For(key);
        await _calls.RunAsync(_topology.NodeOf(lockKey), "unlock", (lockKey, token), static (db, s) => RedisCommands.UnlockAsync(db, s.lockKey, s.token), false, CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>With the near cache, its link hears every change of a key in the namespace, whoever makes it: a waiter wakes on it.</summary>
    public Task? WhenChanged(string key) =>
        _near is not null && NearLinkOf(_topology.NodeOf(key)) is { IsUp: true } ? _near.Changed(key) : null;
}
