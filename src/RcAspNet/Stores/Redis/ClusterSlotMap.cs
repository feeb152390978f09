using System.Net;
using StackExchange.Redis;

namespace RcAspNet.Stores.Redis;

/// <summary>
/// Which primary owns each hash slot of a Redis Cluster, as the multiplexer last learned it: read from its cluster
/// configuration (no I/O), rebuilt when it reports a change, and corrected slot by slot when it follows a MOVED reply.
/// A failed-over or resharded slot so leads to the circuit of the primary that serves it now.
/// </summary>
internal sealed class ClusterSlotMap
{
    private readonly IConnectionMultiplexer _connection;
    private EndPoint?[]? _owners;

    public ClusterSlotMap(IConnectionMultiplexer connection)
    {
        _connection = connection;
        connection.ConfigurationChanged += (_, _) => Volatile.Write(ref _owners, null);
        connection.HashSlotMoved += (_, moved) =>
        {
            if (Volatile.Read(ref _owners) is { } owners && moved.HashSlot is >= 0 and < HashSlot.Count)
            {
                owners[moved.HashSlot] = moved.NewEndPoint;
            }
        };
    }

    /// <summary>Returns the primary that serves <paramref name="slot"/>, or null while the topology is not known.</summary>
    public EndPoint? OwnerOf(int slot) => (Volatile.Read(ref _owners) ?? Build())?[slot];

    private EndPoint?[]? Build()
    {
        foreach (var endPoint in _connection.GetEndPoints())
        {
            var server = _connection.GetServer(endPoint);
            if (!server.IsConnected || server.ClusterConfiguration is not { } configuration)
            {
                continue;
            }

            var owners = new EndPoint?[HashSlot.Count];
            foreach (var node in configuration.Nodes)
            {
                if (node.IsReplica || node.EndPoint is null)
                {
                    continue;
                }

                foreach (var range in node.Slots)
                {
                    for (var slot = range.From; slot <= range.To && slot < HashSlot.Count; slot++)
                    {
                        owners[slot] = node.EndPoint;
                    }
                }
            }

            Volatile.Write(ref _owners, owners);
            return owners;
        }

        return null;
    }
}
