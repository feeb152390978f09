using System.Globalization;

namespace RcAspNet.Tests.Infrastructure;

/// <summary>One line of <c>CLUSTER NODES</c>: a node as one member of a Redis Cluster sees it.</summary>
public sealed record ClusterNode(string Id, int Port, bool IsPrimary, string? PrimaryId, bool IsFailing, bool IsLinked, IReadOnlyList<(int From, int To)> Slots)
{
    /// <summary>Gets how many hash slots the node serves.</summary>
    public int SlotCount => Slots.Sum(static r => r.To - r.From + 1);

    public bool Owns(int slot) => Slots.Any(r => slot >= r.From && slot <= r.To);

    /// <summary>Parses the reply of <c>CLUSTER NODES</c> (its text, or the raw RESP bulk string).</summary>
    public static IReadOnlyList<ClusterNode> ParseAll(string reply)
    {
        if (reply.StartsWith('$'))
        {
            reply = reply[(reply.IndexOf('\n', StringComparison.Ordinal) + 1)..];
        }

        return reply.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(Parse).ToArray();
    }

    /// <summary>
    /// <c>id ip:port@cport[,hostname] flags primary-id ping-sent pong-received epoch link-state slot...</c>; a slot
    /// in brackets is one being migrated or imported, still served by this node.
    /// </summary>
    private static ClusterNode Parse(string line)
    {
        var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var address = fields[1].Split('@')[0];
        var flags = fields[2].Split(',');
        var slots = new List<(int, int)>();
        foreach (var field in fields.Skip(8).Where(static f => !f.StartsWith('[')))
        {
            var range = field.Split('-');
            var from = int.Parse(range[0], CultureInfo.InvariantCulture);
            slots.Add((from, range.Length == 2 ? int.Parse(range[1], CultureInfo.InvariantCulture) : from));
        }

        return new ClusterNode(
            fields[0],
            int.Parse(address[(address.LastIndexOf(':') + 1)..], CultureInfo.InvariantCulture),
            flags.Contains("master"),
            fields[3] == "-" ? null : fields[3],
            flags.Contains("fail") || flags.Contains("fail?"),
            fields[7] == "connected",
            slots);
    }
}
