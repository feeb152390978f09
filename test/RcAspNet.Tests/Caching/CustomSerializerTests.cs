using System.Globalization;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Caching;

/// <summary>An IRcSerializer registered in DI replaces the JSON one: Redis holds its format, and IRcCache reads it.</summary>
public sealed class CustomSerializerTests : IAsyncLifetime
{
    private RedisServer? _server;
    private ServiceProvider? _services;

    public sealed record Post(int Id, string Title);

    private IRcCache Cache => _services!.GetRequiredService<IRcCache>();

    private RedisServer Server => _server!;

    public async Task InitializeAsync()
    {
        _server = await SharedRedis.Single;
        _services = TestServices.Build(Configure, static s => s.AddSingleton<IRcSerializer, PipeSerializer>());
    }

    public async Task DisposeAsync() => await _services!.DisposeAsync();

    private void Configure(RcOptions o)
    {
        TestServices.Redis(o, Server);
        o.Namespace = SharedRedis.UniqueNamespace();
        o.FailureMode = RcFailureMode.Throw;
        o.OperationTimeout = TimeSpan.FromSeconds(10);
    }

    /// <summary>The value of a key as Redis holds it, from a raw GET (a RESP bulk string).</summary>
    private static async Task<string?> RawAsync(RedisServer server, string key)
    {
        var reply = await server.CommandAsync("GET", key);
        if (reply.StartsWith("$-1", StringComparison.Ordinal))
        {
            return null;
        }

        var body = reply[(reply.IndexOf("\r\n", StringComparison.Ordinal) + 2)..];
        return body[..^2];
    }

    [Fact]
    public async Task Set_StoresTheCustomFormatInRedis()
    {
        await Cache.SetAsync("post:1", new Post(1, "Hello"));
        Assert.Equal("POST|1|Hello", await RawAsync(Server, Cache.Namespace + "post:1"));
    }

    [Fact]
    public async Task SetMany_StoresTheCustomFormatInRedis()
    {
        await Cache.SetManyAsync<Post>([new("a", new Post(1, "a")), new("b", new Post(2, "b"))]);
        Assert.Equal("POST|1|a", await RawAsync(Server, Cache.Namespace + "a"));
        Assert.Equal("POST|2|b", await RawAsync(Server, Cache.Namespace + "b"));
    }

    [Fact]
    public async Task Get_ReadsTheCustomFormatWrittenToRedis()
    {
        Assert.Equal("+OK\r\n", await Server.CommandAsync("SET", Cache.Namespace + "post:2", "POST|2|Written by another app"));
        Assert.Equal(new Post(2, "Written by another app"), await Cache.GetAsync<Post>("post:2"));
        Assert.Equal([new Post(2, "Written by another app"), null], await Cache.GetManyAsync<Post>(["post:2", "post:3"]));
    }

    [Fact]
    public async Task Get_JsonEntry_IsAMissForTheCustomSerializer()
    {
        Assert.Equal("+OK\r\n", await Server.CommandAsync("SET", Cache.Namespace + "post:4", "{\"id\": 4, \"title\": \"json\"}"));
        Assert.Null(await Cache.GetAsync<Post>("post:4"));
    }

    [Fact]
    public async Task GetOrSet_StoresTheFactoryResultInTheCustomFormat()
    {
        Assert.Equal(new Post(5, "five"), await Cache.GetOrSetAsync("post:5", static _ => ValueTask.FromResult(new Post(5, "five"))));
        Assert.Equal("POST|5|five", await RawAsync(Server, Cache.Namespace + "post:5"));
        Assert.Equal(new Post(5, "five"), await Cache.GetOrSetAsync("post:5", static _ => ValueTask.FromResult(new Post(0, "factory ran again"))));
    }

    [Fact]
    public async Task SerializerRegisteredBeforeAddRcCache_AlsoReplacesJson()
    {
        var services = new ServiceCollection();
        services.AddSingleton<IRcSerializer, PipeSerializer>();
        services.AddRcCache(Configure);
        await using var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateScopes = true, ValidateOnBuild = true });
        _ = provider.GetRequiredService<IOptions<RcOptions>>().Value;
        var cache = provider.GetRequiredService<IRcCache>();
        await cache.SetAsync("post:6", new Post(6, "six"));
        Assert.Equal("POST|6|six", await RawAsync(Server, cache.Namespace + "post:6"));
    }

    /// <summary>Writes a <see cref="Post"/> as <c>POST|id|title</c>, a format JSON never produces, and reads only that.</summary>
    private sealed class PipeSerializer : IRcSerializer
    {
        public byte[] Serialize<T>(T value) => value is Post post
            ? Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"POST|{post.Id}|{post.Title}"))
            : throw new NotSupportedException($"This serializer writes posts only, not {typeof(T).Name}.");

        public T Deserialize<T>(ReadOnlySpan<byte> data)
        {
            if (typeof(T) != typeof(Post) || Encoding.UTF8.GetString(data).Split('|', 3) is not ["POST", var id, var title])
            {
                throw new FormatException("Not a post written as POST|id|title.");
            }

            return (T)(object)new Post(int.Parse(id, CultureInfo.InvariantCulture), title);
        }
    }
}
