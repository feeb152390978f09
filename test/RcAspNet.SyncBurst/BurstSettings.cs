using System.Globalization;

namespace RcAspNet.SyncBurst;

/// <summary>
/// The command line: <c>--store memory|redis|sharded|cluster</c>, <c>--redis host:port[,host:port...]</c> (redis,
/// cluster), <c>--shards host:port,host:port,...</c> (sharded, named cache01, cache02... in order),
/// <c>--timeout-ms N</c> (Rc:OperationTimeout), <c>--frozen-shard I</c> (the index in <c>--shards</c> of a shard the
/// parent freezes; its keys are expected to miss) and <c>--wait</c> (print <c>ready</c> once the keys are written and
/// wait for a line on standard input before the bursts, so the parent can freeze a server in between).
/// </summary>
internal sealed record BurstSettings(string Store, string? Redis, string[] Shards, TimeSpan OperationTimeout, int? FrozenShard, bool Wait)
{
    public static BurstSettings Parse(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var wait = false;
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "--wait")
            {
                wait = true;
            }
            else if (args[i].StartsWith("--", StringComparison.Ordinal) && i + 1 < args.Length)
            {
                values[args[i][2..]] = args[++i];
            }
            else
            {
                throw new ArgumentException($"Unexpected argument '{args[i]}'.", nameof(args));
            }
        }

        var store = values.GetValueOrDefault("store") ?? throw new ArgumentException("--store is required.", nameof(args));
        if (store is not ("memory" or "redis" or "sharded" or "cluster"))
        {
            throw new ArgumentException($"--store must be memory, redis, sharded or cluster, not '{store}'.", nameof(args));
        }

        var shards = values.GetValueOrDefault("shards")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];
        var timeout = TimeSpan.FromMilliseconds(int.Parse(values.GetValueOrDefault("timeout-ms") ?? "500", CultureInfo.InvariantCulture));
        int? frozen = values.TryGetValue("frozen-shard", out var index) ? int.Parse(index, CultureInfo.InvariantCulture) : null;
        return new BurstSettings(store, values.GetValueOrDefault("redis"), shards, timeout, frozen, wait);
    }

    /// <summary>Sets the store as an application would, in <c>AddRcCache(o => ...)</c>.</summary>
    public void Configure(RcOptions options)
    {
        options.OperationTimeout = OperationTimeout;
        switch (Store)
        {
            case "memory":
                options.Store = RcStoreKind.Memory;
                break;
            case "redis" or "cluster":
                options.Store = RcStoreKind.Redis;
                options.Redis = Redis ?? throw new ArgumentException("--redis is required for a Redis store.");
                break;
            default:
                options.Store = RcStoreKind.Sharded;
                options.Router = RcRouterKind.Crc32;
                for (var i = 0; i < Shards.Length; i++)
                {
                    var colon = Shards[i].LastIndexOf(':');
                    options.Shards[ShardName(i)] = new RcShardOptions
                    {
                        Host = Shards[i][..colon],
                        Port = int.Parse(Shards[i][(colon + 1)..], CultureInfo.InvariantCulture),
                    };
                }

                break;
        }
    }

    public static string ShardName(int index) => $"cache{index + 1:00}";
}
