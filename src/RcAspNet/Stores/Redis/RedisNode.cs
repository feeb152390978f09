using RcAspNet.Stores.Near;

namespace RcAspNet.Stores.Redis;

/// <summary>One Redis server as a store's operations see it: its telemetry name, the circuit that guards it, and the near cache's link to it.</summary>
internal sealed class RedisNode(string name, CircuitBreaker circuit)
{
    private InvalidationLink? _link;

    /// <summary>Gets the shard tag: the store's shard name, and for a cluster node its endpoint after a slash.</summary>
    public string Name { get; } = name;

    public CircuitBreaker Circuit { get; } = circuit;

    /// <summary>Gets the near cache's invalidation link to this server, once one was made.</summary>
    public InvalidationLink? Link => Volatile.Read(ref _link);

    /// <summary>Makes the link with <paramref name="create"/> the first time; returns the node's link.</summary>
    public InvalidationLink LinkOrCreate(Func<InvalidationLink> create)
    {
        if (Volatile.Read(ref _link) is { } link)
        {
            return link;
        }

        var made = create();
        if (Interlocked.CompareExchange(ref _link, made, null) is { } other)
        {
            made.Dispose();
            return other;
        }

        return made;
    }
}
