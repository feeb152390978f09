using StackExchange.Redis;

namespace RcAspNet.Stores.Redis;

/// <summary>
/// The GETs of a store in flight, so that concurrent readers of one key send one GET, as output caching's lookups are
/// collapsed. A fixed table of slots, by the key's hash, holds at most one GET each, with no lock and no allocation: a
/// slot's state (a version, a phase and how many readers joined) is one word that every change swaps atomically, and
/// its key and reply are written only by the reader that holds it. A reader whose slot holds another GET in flight
/// sends its own, unshared. A GET whose reply is back holds its slot only until its reader's continuation runs, which
/// on a busy thread pool is long after: the first reader to come meanwhile takes the slot over for a GET of its own, so
/// that the readers after it join that one instead of each sending its own.
/// <para>
/// A reader joins only a GET still in flight (its reply not back yet) whose key this node has not changed since it
/// began. A GET takes its slot before it is sent, and a write or removal through the store closes the key's slot before
/// it is sent and again once it is done: a GET still open after that was sent after the write was answered, so a read
/// that begins after the write never joins one begun before it. Each reader still waits, times out, is cancelled and
/// fails on its own
/// (<see cref="RedisCalls.GetAsync"/>); only the command on the wire is shared.
/// </para>
/// </summary>
internal sealed class SharedGets
{
    private const int Slots = 256;

    // A slot's state: version << 34 | phase << 32 | readers that joined. The version grows with every GET that takes
    // the slot, so a swap against a state read earlier fails if any other GET came and went in between. It has 30 bits:
    // a GET taken over would have to wait 2^30 GETs of its slot for its reader's seal to mistake another's for its own.
    private const long Free = 0;
    private const long Taken = 1; // held, not sent yet: nobody may join
    private const long Open = 2; // sent: readers of its key may join
    private const long Closed = 3; // sent, but its key changed since: nobody may join

    private readonly long[] _states = new long[Slots];
    private readonly string?[] _keys = new string?[Slots];
    private readonly Task<RedisValue>?[] _replies = new Task<RedisValue>?[Slots];

    // The last GET of each slot that another took over: its version, and how many readers had joined it (a state with
    // no phase), for its reader's seal, written just after the takeover.
    private readonly long[] _handedOver = new long[Slots];

    /// <summary>The slot of <paramref name="key"/>.</summary>
    public static int SlotOf(string key) => key.GetHashCode() & (Slots - 1);

    /// <summary>Joins the GET of <paramref name="key"/> in flight: its reply, or null when there is none to join.</summary>
    public Task<RedisValue>? TryJoin(string key, int slot)
    {
        ref var state = ref _states[slot];
        for (var seen = Volatile.Read(ref state); PhaseOf(seen) == Open; seen = Volatile.Read(ref state))
        {
            // Read before the swap: if it succeeds, the slot was this same GET's all along. A reply that came back is
            // no longer in flight (its reader has yet to seal it): it may predate a write another node made since, so a
            // reader that begins now sends a GET of its own, and takes the slot over for it (Take).
            var reply = Volatile.Read(ref _replies[slot]);
            if (!string.Equals(Volatile.Read(ref _keys[slot]), key, StringComparison.Ordinal) || reply is null || reply.IsCompleted)
            {
                return null;
            }

            if (Interlocked.CompareExchange(ref state, seen + 1, seen) == seen)
            {
                return reply;
            }
        }

        return null;
    }

    /// <summary>
    /// Takes the slot for a GET of <paramref name="key"/>: the ticket to send it with (<see cref="Send"/>) and to seal it
    /// with, or -1 when the slot holds another GET in flight (this one is then sent unshared). A slot whose GET is
    /// answered and not sealed yet is taken over: its reader's <see cref="Seal"/> then leaves the slot alone.
    /// </summary>
    public long Take(string key, int slot)
    {
        ref var state = ref _states[slot];
        var seen = Volatile.Read(ref state);
        var taken = State(VersionOf(seen) + 1, Taken, 0);

        // Open, its reply was written before it opened and is not written again by its reader, so a swap against the
        // state read before the reply proves the reply was that GET's. (A closed slot's GET may not be sent yet: its reply
        // could still be written, over the GET that took it over.)
        var answered = PhaseOf(seen) == Open && Volatile.Read(ref _replies[slot]) is { IsCompleted: true };
        if (!(PhaseOf(seen) == Free || answered) || Interlocked.CompareExchange(ref state, taken, seen) != seen)
        {
            return -1;
        }

        if (answered)
        {
            // Answered, nobody joins it any more: its count is final.
            Volatile.Write(ref _handedOver[slot], State(VersionOf(seen), Free, JoinedOf(seen)));
        }

        Volatile.Write(ref _keys[slot], key);
        return VersionOf(taken);
    }

    /// <summary>
    /// Sends the GET, and opens it to readers of its key unless that key changed since it was taken. It must run before
    /// <see cref="Seal"/> (the store sends synchronously once connected, and takes a slot only then). A cluster primary's
    /// GET is answered by that primary (<see cref="RedisCommands.GetAsync(IDatabase, RedisNode?, string)"/>).
    /// </summary>
    public Task<RedisValue> Send(IDatabase database, string key, int slot, long ticket, RedisNode? node = null)
    {
        var reply = RedisCommands.GetAsync(database, node, key);
        if (ticket >= 0)
        {
            // The slot is this GET's until it is sealed, so no other GET writes its reply.
            Volatile.Write(ref _replies[slot], reply);
            Interlocked.CompareExchange(ref _states[slot], State(ticket, Open, 0), State(ticket, Taken, 0));
        }

        return reply;
    }

    /// <summary>
    /// Seals the GET of <paramref name="ticket"/>: nobody joins it any more, and its slot is free unless another GET took
    /// it over. Returns whether anyone joined (for a GET taken over whose count the next GET has not recorded yet, or has
    /// recorded over with a later one's, whether anyone may have).
    /// </summary>
    public bool Seal(int slot, long ticket)
    {
        if (ticket < 0)
        {
            return false;
        }

        ref var state = ref _states[slot];
        Close(slot, ticket, key: null);
        var closed = Volatile.Read(ref state);
        if (VersionOf(closed) != ticket)
        {
            // Taken over: the slot, its key and its reply are the next GET's.
            var handed = Volatile.Read(ref _handedOver[slot]);
            return VersionOf(handed) != ticket || JoinedOf(handed) > 0;
        }

        // Closed, and still this GET's: nobody else takes a closed slot, so nothing written here is another GET's.
        Volatile.Write(ref _replies[slot], null);
        Volatile.Write(ref _keys[slot], null);
        Volatile.Write(ref state, State(ticket, Free, 0));
        return JoinedOf(closed) > 0;
    }

    /// <summary>This node writes or removes <paramref name="key"/>: no read that begins now joins a GET begun before.</summary>
    public void Forget(string key) => Forget(key, SlotOf(key));

    /// <summary>As <see cref="Forget(string)"/>, with the key's slot already found.</summary>
    public void Forget(string key, int slot)
    {
        var seen = Volatile.Read(ref _states[slot]);
        if (PhaseOf(seen) is Taken or Open)
        {
            Close(slot, VersionOf(seen), key);
        }
    }

    /// <summary>This node clears namespaces: no read that begins now joins any GET begun before.</summary>
    public void ForgetAll()
    {
        for (var slot = 0; slot < Slots; slot++)
        {
            Close(slot, VersionOf(Volatile.Read(ref _states[slot])), key: null);
        }
    }

    /// <summary>Closes the GET of <paramref name="version"/> in <paramref name="slot"/> (if it is of <paramref name="key"/>, when one is given), whatever joins it meanwhile.</summary>
    private void Close(int slot, long version, string? key)
    {
        ref var state = ref _states[slot];
        for (var seen = Volatile.Read(ref state); VersionOf(seen) == version && PhaseOf(seen) is Taken or Open; seen = Volatile.Read(ref state))
        {
            if (key is not null && !string.Equals(Volatile.Read(ref _keys[slot]), key, StringComparison.Ordinal))
            {
                return;
            }

            if (Interlocked.CompareExchange(ref state, State(version, Closed, JoinedOf(seen)), seen) == seen)
            {
                return;
            }
        }
    }

    private static long State(long version, long phase, int joined) => (version << 34) | (phase << 32) | (uint)joined;

    private static long VersionOf(long state) => (long)((ulong)state >> 34);

    private static long PhaseOf(long state) => (state >> 32) & 3;

    private static int JoinedOf(long state) => (int)(uint)state;
}
