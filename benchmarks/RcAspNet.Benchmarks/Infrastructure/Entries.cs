using Microsoft.Extensions.Caching.Distributed;

namespace RcAspNet.Benchmarks.Infrastructure;

/// <summary>The payloads and lifetimes every contender stores.</summary>
internal static class Entries
{
    /// <summary>The lifetime of every entry: the absolute one, or the sliding window.</summary>
    public static readonly TimeSpan TimeToLive = TimeSpan.FromMinutes(10);

    /// <summary>Incompressible bytes of <paramref name="size"/>, the same in every process; never starting with rc's header magic.</summary>
    public static byte[] Payload(int size)
    {
        var payload = new byte[size];
        new Random(size).NextBytes(payload);
        payload[0] = (byte)'{';
        return payload;
    }

    public static DistributedCacheEntryOptions Options(bool sliding) => sliding
        ? new DistributedCacheEntryOptions { SlidingExpiration = TimeToLive }
        : new DistributedCacheEntryOptions { AbsoluteExpirationRelativeToNow = TimeToLive };

    /// <summary>Fails the set-up, before anything is measured, when a contender does not read back what was stored.</summary>
    public static void Check(bool condition, string what)
    {
        if (!condition)
        {
            throw new InvalidOperationException($"Benchmark set-up check failed: {what}.");
        }
    }
}
