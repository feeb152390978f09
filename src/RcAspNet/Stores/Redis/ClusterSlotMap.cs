using System.Net;
using StackExchange.Redis;

namespace RcAspNet.Stores.Redis;

/// <summary>
/// Which primary owns each hash slot of a Redis Cluster, as the multiplexer last learned it: read from its cluster
/// configuration (no I/O), rebuilt when it reports a change, and corrected slot by slot when it follows a MOVED reply.
/// A failed-over or resharded slot so leads to the circuit of the primary that serves it now. Every primary that takes
/// over slots it did not own is reported (<c>gaining</c>) before the map that routes to it is published: it may lack
/// removals its predecessor acknowledged. Once it is published, <c>moved</c> is told.
/// </summary>
internal sealed class ClusterSlotMap
{
    private readonly IConnectionMultiplexer _connection;
    private readonly Action<IReadOnlyCollection<EndPoint>> _gaining;
    private readonly Action _moved;
    private readonly Lock _lock = new();
    private EndPoint?[]? _owners;
    private EndPoint?[]? _previous;

    public ClusterSlotMap(IConnectionMultiplexer connection, Action<IReadOnlyCollection<EndPoint>> gaining, Action moved)
    {
        _connection = connection;
        _gaining = gaining;
        _moved = moved;
        connection.ConfigurationChanged += (_, _) =>
        {
            Volatile.Write(ref _owners, null);

            // Rebuild now, so that a primary that took over slots is reported before a call is routed to it.
            _ = OwnerOf(0);
        };
        connection.HashSlotMoved += (_, moved) =>
        {
            if (Volatile.Read(ref _owners) is { } owners && moved.HashSlot is >= 0 and < HashSlot.Count && !Equals(owners[moved.HashSlot], moved.NewEndPoint))
            {
                _gaining([moved.NewEndPoint]);
                owners[moved.HashSlot] = moved.NewEndPoint;
                _moved();
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

            Report(owners);
            return owners;
        }

        return null;
    }

    /// <summary>Publishes a new map, reporting the primaries that own slots now which they did not own in the last one.</summary>
    private void Report(EndPoint?[] owners)
    {
        HashSet<EndPoint>? gained = null;
        lock (_lock)
        {
            if (_previous is { } previous)
            {
                for (var slot = 0; slot < owners.Length; slot++)
                {
                    if (owners[slot] is { } owner && !Equals(owner, previous[slot]))
                    {
                        (gained ??= []).Add(owner);
                    }
                }
            }

            // Reported before the map is published, so that no call reaches a primary that took over slots before
            // it is told to verify itself.
            if (gained is not null)
            {
                _gaining(gained);
            }

            _previous = owners;
            Volatile.Write(ref _owners, owners);
        }

        if (gained is not null)
        {
            _moved();
        }
    }
}
