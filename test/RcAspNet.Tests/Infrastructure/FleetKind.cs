namespace RcAspNet.Tests.Infrastructure;

/// <summary>What a <see cref="Fleet"/> is made of.</summary>
public enum FleetKind
{
    /// <summary>One Redis server (<c>Rc:Store=Redis</c>).</summary>
    Redis,

    /// <summary>Three servers sharded by rc's CRC-32 router (<c>Rc:Store=Sharded</c>).</summary>
    Shards,

    /// <summary>A Redis Cluster of three primaries (<c>Rc:Store=Redis</c> naming its nodes).</summary>
    Cluster,
}
