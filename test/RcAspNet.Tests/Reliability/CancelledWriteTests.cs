using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Reliability;

/// <summary>
/// A write that replaces a value, whose caller gave up before it began (a request aborted after its database write, say):
/// it is not written, and the value it was to replace is removed all the same, as a removal whose caller gave up is:
/// neither this node nor another one serves that value again.
/// </summary>
public sealed class CancelledWriteTests
{
    public enum Write
    {
        Distributed,
        Buffered,
        Typed,
        Tagged,
        Many,
        TaggedMany,
        ManyWithABypassValue,
        TypedBypassValue,
    }

    public static TheoryData<RcStoreKind, Write> Cases()
    {
        var cases = new TheoryData<RcStoreKind, Write>();
        foreach (var store in new[] { RcStoreKind.Memory, RcStoreKind.Redis, RcStoreKind.Sharded })
        {
            foreach (var write in Enum.GetValues<Write>())
            {
                cases.Add(store, write);
            }
        }

        return cases;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task AReplacingWriteCancelledBeforeItBegan_RemovesTheValueItWasToReplace(RcStoreKind kind, Write write)
    {
        var store = await ConfigureAsync(kind);
        void Configure(RcOptions o)
        {
            store(o);
            o.BypassValues.Add("\"none\"");
        }

        await using var services = TestServices.Build(Configure);
        await using var other = TestServices.Build(Configure);
        var cache = services.GetRequiredService<IRcCache>();
        var distributed = services.GetRequiredService<IDistributedCache>();
        await cache.SetAsync("a", "v1");
        await cache.SetAsync("b", "v1");
        Assert.Equal("v1", await cache.GetAsync<string>("a"));

        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        var tagged = new RcEntryOptions { Tags = ["t"] };
        Task attempt = write switch
        {
            Write.Distributed => distributed.SetAsync("a", "\"v2\""u8.ToArray(), new DistributedCacheEntryOptions(), cancelled.Token),
            Write.Buffered => ((IBufferDistributedCache)distributed).SetAsync("a", new System.Buffers.ReadOnlySequence<byte>("\"v2\""u8.ToArray()), new DistributedCacheEntryOptions(), cancelled.Token).AsTask(),
            Write.Typed => cache.SetAsync("a", "v2", cancellationToken: cancelled.Token).AsTask(),
            Write.Tagged => cache.SetAsync("a", "v2", tagged, cancelled.Token).AsTask(),
            Write.Many => cache.SetManyAsync<string>([new("a", "v2"), new("b", "v2")], cancellationToken: cancelled.Token).AsTask(),
            Write.TaggedMany => cache.SetManyAsync<string>([new("a", "v2"), new("b", "v2")], tagged, cancelled.Token).AsTask(),
            Write.TypedBypassValue => cache.SetAsync("a", "none", cancellationToken: cancelled.Token).AsTask(),
            _ => cache.SetManyAsync<string>([new("a", "v2"), new("b", "none")], cancellationToken: cancelled.Token).AsTask(),
        };
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => attempt);

        // Neither value is served here, nor (on a server) by another node; the removal may finish after the call.
        string[] keys = write is Write.Many or Write.TaggedMany or Write.ManyWithABypassValue ? ["a", "b"] : ["a"];
        var nodes = kind == RcStoreKind.Memory ? [cache] : new[] { cache, other.GetRequiredService<IRcCache>() };
        await Eventually.TrueAsync(async () =>
        {
            foreach (var node in nodes)
            {
                foreach (var key in keys)
                {
                    var value = await node.GetAsync<string>(key);
                    Assert.NotEqual("v2", value);
                    if (value is not null)
                    {
                        return false;
                    }
                }
            }

            return true;
        });

        // What the caller did not cancel still works, and the other key of a single write was left alone.
        if (keys.Length == 1)
        {
            Assert.Equal("v1", await cache.GetAsync<string>("b"));
        }

        await cache.SetAsync("a", "v3");
        Assert.Equal("v3", await cache.GetAsync<string>("a"));
    }

    private static async Task<Action<RcOptions>> ConfigureAsync(RcStoreKind kind)
    {
        var ns = SharedRedis.UniqueNamespace();
        switch (kind)
        {
            case RcStoreKind.Redis:
                var server = await SharedRedis.Single;
                return o => (o.Store, o.Redis, o.Namespace) = (RcStoreKind.Redis, server.EndPoint, ns);
            case RcStoreKind.Sharded:
                var shards = await SharedRedis.Shards;
                return o =>
                {
                    TestServices.Sharded(o, shards);
                    o.Namespace = ns;
                };
            default:
                return o => (o.Store, o.Namespace) = (RcStoreKind.Memory, ns);
        }
    }
}
