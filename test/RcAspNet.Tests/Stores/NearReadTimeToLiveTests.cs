using RcAspNet.Stores.Redis;
using RcAspNet.Tests.Infrastructure;
using StackExchange.Redis;

namespace RcAspNet.Tests.Stores;

/// <summary>
/// The near cache's read on one server (GET and PTTL in one round trip) tells a key without TTL, which a copy keeps until
/// Redis invalidates it, from a key gone since its GET, which no copy may keep.
/// </summary>
public sealed class NearReadTimeToLiveTests
{
    private static string? Text(byte[]? bytes) => bytes is null ? null : System.Text.Encoding.UTF8.GetString(bytes);

    [Fact]
    public async Task PttlReply_TellsNoTimeToLive_FromAKeyThatIsGone()
    {
        var server = await SharedRedis.Single;
        var ns = SharedRedis.UniqueNamespace();
        await using var connection = await ConnectionMultiplexer.ConnectAsync(server.EndPoint);
        var db = connection.GetDatabase();
        await db.StringSetAsync(ns + "forever", "x");
        await db.StringSetAsync(ns + "lives", "y", TimeSpan.FromMinutes(5));

        var forever = await RedisCommands.GetWithTimeToLiveAsync(db, ns + "forever");
        var lives = await RedisCommands.GetWithTimeToLiveAsync(db, ns + "lives");
        var gone = await RedisCommands.GetWithTimeToLiveAsync(db, ns + "gone");

        Assert.Equal(("x", -1L), (Text(forever.Value), forever.TimeToLiveMs));
        Assert.Equal("y", Text(lives.Value));
        Assert.InRange(lives.TimeToLiveMs, 1, 300_000);
        Assert.Equal((null, -2L), (Text(gone.Value), gone.TimeToLiveMs));
    }
}
