using System.Globalization;
using BlogApp.Tests.Infrastructure;
using RcAspNet.Tests.Infrastructure;

namespace BlogApp.Tests;

/// <summary>The index page of 50 posts on real Redis: its cost counted by the servers and by EF Core.</summary>
public sealed class BlogRedisTests
{
    private static async Task<(BlogFactory Blog, RedisServer[] Servers)> StartAsync(int shards)
    {
        var servers = await RedisServer.StartManyAsync(shards);
        var settings = new Dictionary<string, string?> { ["Blog:SeedPosts"] = "50" };
        if (shards == 1)
        {
            settings["Rc:Store"] = "Redis";
            settings["Rc:Redis"] = servers[0].EndPoint;
        }
        else
        {
            settings["Rc:Store"] = "Sharded";
            for (var i = 0; i < shards; i++)
            {
                settings[$"Rc:Shards:cache0{i + 1}:Host"] = "127.0.0.1";
                settings[$"Rc:Shards:cache0{i + 1}:Port"] = servers[i].Port.ToString(CultureInfo.InvariantCulture);
            }
        }

        return (new BlogFactory(settings), servers);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public async Task WarmIndex_IsOneGetAndOneMgetPerShardAndNoSql(int shards)
    {
        var (blog, servers) = await StartAsync(shards);
        try
        {
            using var client = blog.Browser();
            blog.Sql.Reset();
            var cold = await client.GetStringAsync("/");
            Assert.Equal(2, blog.Sql.Count); // the id list, then every post in one query
            Assert.Equal(50, cold.Split("<li>").Length - 1);

            foreach (var server in servers)
            {
                await server.ResetStatsAsync();
            }

            blog.Sql.Reset();
            var warm = await client.GetStringAsync("/");
            Assert.Equal(cold, warm.Replace(BlogFactory.Token(warm), BlogFactory.Token(cold), StringComparison.Ordinal));
            Assert.Equal(0, blog.Sql.Count);

            long gets = 0;
            foreach (var server in servers)
            {
                var stats = await server.CommandStatsAsync();
                stats.Remove("ping");
                Assert.Equal(1, stats.GetValueOrDefault("mget"));
                gets += stats.GetValueOrDefault("get");
                Assert.Empty(stats.Keys.Except(["get", "mget"]));
            }

            Assert.Equal(1, gets);
        }
        finally
        {
            await blog.DisposeAsync();
            foreach (var server in servers)
            {
                await server.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Stats_DrawsEveryShardsRoundTripsAndTheCachesHitRatios()
    {
        var (blog, servers) = await StartAsync(3);
        try
        {
            using var client = blog.Browser();
            await client.GetStringAsync("/");
            await client.GetStringAsync("/post/1");
            await client.GetStringAsync("/post/1");
            var html = await client.GetStringAsync("/stats");
            Assert.Matches("<title>pages: 50% \\(1 hits, 1 misses\\)</title>", html);
            foreach (var shard in new[] { "cache01", "cache02", "cache03" })
            {
                Assert.Matches($"<svg id=\"round-trips\"[^$]*<title>{shard}: [1-9]\\d*</title>", html);
                Assert.Matches($"<svg id=\"errors\"[^$]*<title>{shard}: 0</title>", html);
            }
        }
        finally
        {
            await blog.DisposeAsync();
            foreach (var server in servers)
            {
                await server.DisposeAsync();
            }
        }
    }
}
