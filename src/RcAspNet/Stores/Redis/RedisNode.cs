namespace RcAspNet.Stores.Redis;

/// <summary>One Redis server as a store's operations see it: its telemetry name and the circuit that guards it.</summary>
internal sealed class RedisNode(string name, CircuitBreaker circuit)
{
    /// <summary>Gets the shard tag: the store's shard name, and for a cluster node its endpoint after a slash.</summary>
    public string Name { get; } = name;

    public CircuitBreaker Circuit { get; } = circuit;
}
