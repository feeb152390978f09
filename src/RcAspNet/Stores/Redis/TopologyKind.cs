namespace RcAspNet.Stores.Redis;

/// <summary>What a store's configuration reaches, once it has connected.</summary>
internal enum TopologyKind
{
    /// <summary>Not connected yet.</summary>
    Unknown,

    /// <summary>One server (a primary, or a replica of one).</summary>
    Server,

    /// <summary>A Redis Cluster: keys are routed to the primary that owns their hash slot.</summary>
    Cluster,
}
