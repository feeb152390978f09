using StackExchange.Redis;

namespace RcAspNet.Stores.Redis;

/// <summary>
/// The GETs of a store in flight, so that concurrent readers of one key send one GET, as output caching's lookups are
/// collapsed. A fixed table of slots, by the key's hash, holds at most one GET each: no lock and no allocation beyond
/// the GET's own handle; a reader whose slot holds another key's GET sends its own, unshared.
/// <para>
/// A reader joins only a GET begun before nothing of this node changed the key. A GET takes its slot before it is
/// sent, and a write or removal through the store forgets the key's GET before it is sent and again once it is done:
/// a GET that is still in the slot after that was sent after the write was answered, so a read that begins after the
/// write never joins one begun before it. Each reader still waits, times out, is cancelled and fails on its own
/// (<see cref="RedisCalls.RunAsync"/>); only the command on the wire is shared.
/// </para>
/// </summary>
internal sealed class SharedGets
{
    private const int Slots = 256;
    private readonly SharedGet?[] _slots = new SharedGet?[Slots];

    /// <summary>The slot of <paramref name="key"/>.</summary>
    public static int SlotOf(string key) => key.GetHashCode() & (Slots - 1);

    /// <summary>Joins the GET of <paramref name="key"/> in flight: its reply, or null when there is none to join.</summary>
    public Task<RedisValue>? TryJoin(string key, int slot) =>
        Volatile.Read(ref _slots[slot]) is { } get && string.Equals(get.Key, key, StringComparison.Ordinal) && get.TryJoin() ? get.Reply : null;

    /// <summary>This node writes or removes <paramref name="key"/>: no read that begins now joins a GET begun before.</summary>
    public void Forget(string key)
    {
        // One attempt is enough: a GET of the key that took the slot since was sent after this call began.
        ref var slot = ref _slots[SlotOf(key)];
        if (Volatile.Read(ref slot) is { } get && string.Equals(get.Key, key, StringComparison.Ordinal))
        {
            Interlocked.CompareExchange(ref slot, null, get);
        }
    }

    /// <summary>This node clears namespaces: no read that begins now joins any GET begun before.</summary>
    public void ForgetAll()
    {
        for (var i = 0; i < _slots.Length; i++)
        {
            Volatile.Write(ref _slots[i], null);
        }
    }

    /// <summary>
    /// One GET that readers may join until the reader that sent it is done: it then seals it, and learns whether anyone
    /// joined (the reply's array is then shared, and each reader takes a copy of its own).
    /// </summary>
    public sealed class SharedGet(SharedGets gets, string key, int slot)
    {
        private int _joined;
        private int _registered;
        private Task<RedisValue>? _reply;

        public string Key => key;

        /// <summary>Gets the reply, once the GET is sent: null before, and a reader that finds it null sends its own.</summary>
        public Task<RedisValue>? Reply => Volatile.Read(ref _reply);

        /// <summary>Takes the slot (unless another GET holds it), then sends the GET; readers arriving while it is in flight join it.</summary>
        public Task<RedisValue> Send(IDatabase database)
        {
            if (Interlocked.CompareExchange(ref gets._slots[slot], this, null) is null)
            {
                // Sent after its reader gave up (a first connect outlasted the timeout): the slot is given back at once.
                Interlocked.Exchange(ref _registered, 1);
                if (Volatile.Read(ref _joined) < 0)
                {
                    Interlocked.CompareExchange(ref gets._slots[slot], null, this);
                }
            }

            var reply = database.StringGetAsync(key);
            Volatile.Write(ref _reply, reply);
            return reply;
        }

        /// <summary>Seals the GET: no reader joins it any more. Returns whether any did.</summary>
        public bool Seal()
        {
            var joined = Interlocked.Exchange(ref _joined, -1) > 0;
            if (Volatile.Read(ref _registered) == 1)
            {
                Interlocked.CompareExchange(ref gets._slots[slot], null, this);
            }

            return joined;
        }

        internal bool TryJoin()
        {
            if (Reply is null)
            {
                return false;
            }

            for (var joined = Volatile.Read(ref _joined); joined >= 0; joined = Volatile.Read(ref _joined))
            {
                if (Interlocked.CompareExchange(ref _joined, joined + 1, joined) == joined)
                {
                    return true;
                }
            }

            return false;
        }
    }
}
