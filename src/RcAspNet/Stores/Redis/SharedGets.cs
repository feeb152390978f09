using System.Collections.Concurrent;
using StackExchange.Redis;

namespace RcAspNet.Stores.Redis;

/// <summary>
/// The GETs of a store in flight, by key, so that concurrent readers of one key send one GET, as output caching's
/// lookups are collapsed. A reader joins only a GET begun before nothing of this node changed the key: a write or
/// removal through the store forgets the key's GET before it is sent and again once it is done, so a read that begins
/// after it sends a GET of its own, queued behind it. Each reader still waits, times out, is cancelled and fails on its
/// own (<see cref="RedisCalls.RunAsync"/>); only the command on the wire is shared.
/// </summary>
internal sealed class SharedGets
{
    private readonly ConcurrentDictionary<string, SharedGet> _inFlight = new(StringComparer.Ordinal);

    /// <summary>Joins the GET of <paramref name="key"/> in flight: its reply, or null when there is none to join.</summary>
    public Task<RedisValue>? TryJoin(string key) =>
        _inFlight.TryGetValue(key, out var get) && get.TryJoin() ? get.Reply : null;

    /// <summary>This node writes or removes <paramref name="key"/>: no read that begins now joins a GET begun before.</summary>
    public void Forget(string key)
    {
        if (!_inFlight.IsEmpty)
        {
            _inFlight.TryRemove(key, out _);
        }
    }

    /// <summary>This node clears namespaces: no read that begins now joins any GET begun before.</summary>
    public void ForgetAll() => _inFlight.Clear();

    private void Add(string key, SharedGet get) => _inFlight[key] = get;

    private void Remove(string key, SharedGet get) => _inFlight.TryRemove(new KeyValuePair<string, SharedGet>(key, get));

    /// <summary>
    /// One GET that readers may join until the reader that sent it is done: it then seals it, and learns whether anyone
    /// joined (the reply's array is then shared, and each reader takes a copy of its own).
    /// </summary>
    public sealed class SharedGet(SharedGets gets, string key)
    {
        private int _joined;

        public Task<RedisValue>? Reply { get; private set; }

        /// <summary>Sends the GET; readers arriving while it is in flight join it.</summary>
        public Task<RedisValue> Send(IDatabase database)
        {
            var reply = database.StringGetAsync(key);
            Reply = reply;
            if (!reply.IsCompleted)
            {
                gets.Add(key, this);
            }

            return reply;
        }

        /// <summary>Seals the GET: no reader joins it any more. Returns whether any did.</summary>
        public bool Seal()
        {
            gets.Remove(key, this);
            return Interlocked.Exchange(ref _joined, -1) > 0;
        }

        internal bool TryJoin()
        {
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
