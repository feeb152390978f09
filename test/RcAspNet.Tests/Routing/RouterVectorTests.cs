using System.Text.Json;
using RcAspNet.Stores;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Routing;

/// <summary>The routers against keys and shards that rc 0.3.1's own router code chose (Data/rc-routing.json).</summary>
public sealed class RouterVectorTests
{
    private static readonly JsonElement Cases = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Data", "rc-routing.json"))).RootElement.GetProperty("cases");

    public static TheoryData<string> CaseNames()
    {
        var names = new TheoryData<string>();
        foreach (var c in Cases.EnumerateArray())
        {
            names.Add(c.GetProperty("name").GetString()!);
        }

        return names;
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Router_AgreesWithRcOnEveryKey(string caseName)
    {
        var vector = Cases.EnumerateArray().Single(c => c.GetProperty("name").GetString() == caseName);
        var hosts = vector.GetProperty("hosts").EnumerateArray()
            .Select(static h => new KeyValuePair<string, RcShardOptions>(Name(h[0]), Shard(h[1])))
            .ToArray();
        IRcRouter router = vector.GetProperty("router").GetString() == "ketama"
            ? new KetamaRouter(hosts.Select(static h => KeyValuePair.Create(h.Key, KetamaRouter.Identity(h.Value.Host, h.Value.Port, h.Value.Db, h.Value.UnixSocketPath))))
            : new Crc32Router(hosts.Select(static h => h.Key));

        var expectations = vector.GetProperty("expect").EnumerateArray().ToArray();
        Assert.Equal(300, expectations.Length);
        var wrong = expectations
            .Where(e => router.Shards[router.GetShard(e[0].GetString()!)] != Name(e[1]))
            .Select(static e => e[0].GetString())
            .ToArray();
        Assert.Empty(wrong);
    }

    [Fact]
    public void Crc32_IntegerShardNames_SortNumerically()
    {
        var router = new Crc32Router(["10", "9", "2", "1"]);
        Assert.Equal(["1", "2", "9", "10"], router.Shards);
    }

    /// <summary>Past 64 bits too: rc's hosts are Python integers, of any size.</summary>
    [Fact]
    public void Crc32_IntegerShardNamesPast64Bits_SortNumerically()
    {
        var router = new Crc32Router(["100000000000000000000", "9", "-100000000000000000000"]);
        Assert.Equal(["-100000000000000000000", "9", "100000000000000000000"], router.Shards);
    }

    [Fact]
    public void Crc32_OtherShardNames_SortOrdinally()
    {
        var router = new Crc32Router(["b", "a10", "a9", "B"]);
        Assert.Equal(["B", "a10", "a9", "b"], router.Shards);
    }

    [Theory]
    [InlineData("1", "01")]
    [InlineData("+2", "2")]
    [InlineData("0", "-0")]
    public void Crc32_IntegerShardNamesOfOneNumber_IsAnArgumentError(string first, string second)
    {
        var error = Assert.Throws<ArgumentException>(() => new Crc32Router([first, "7", second]));
        Assert.Equal("shards", error.ParamName);
        Assert.Contains($"{first} and {second} are one number", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Crc32_NoShards_IsAnArgumentError() =>
        Assert.Equal("shards", Assert.Throws<ArgumentException>(() => new Crc32Router([])).ParamName);

    [Fact]
    public void Ketama_TwoShardsOnOneServer_IsAnArgumentError()
    {
        var same = KetamaRouter.Identity("h", 1, 0, null);
        var error = Assert.Throws<ArgumentException>(() => new KetamaRouter([new("a", same), new("b", KetamaRouter.Identity("h", 1, 0, null))]));
        Assert.Equal("shards", error.ParamName);
    }

    [Fact]
    public void Ketama_IdentityIsRcsHostConfigRepr() => Assert.Equal(
        "<HostConfig db=2 host=10.0.0.1 port=7001 unix_socket_path=None>",
        KetamaRouter.Identity("10.0.0.1", 7001, 2, null));

    [Theory]
    [InlineData(RcRouterKind.Crc32)]
    [InlineData(RcRouterKind.Ketama)]
    public async Task ShardedStore_PutsEachKeyOnTheServerItsShardNames(RcRouterKind kind)
    {
        var servers = await SharedRedis.Shards;
        var options = TestStores.ShardedOptions(servers, kind);
        await using var store = (ShardedStore)TestStores.Create(options);
        var ns = SharedRedis.UniqueNamespace();
        var keys = Enumerable.Range(0, 60).Select(i => $"{ns}post:{i}").ToArray();
        await store.SetManyAsync(keys.Select(static k => new StoreEntry(k, [1], TimeSpan.FromMinutes(1))).ToArray(), true, default);

        var byName = options.Shards.ToDictionary(static s => s.Key, s => servers.Single(srv => srv.Port == s.Value.Port));
        var used = new HashSet<string>();
        foreach (var key in keys)
        {
            var shard = store.Router.Shards[store.Router.GetShard(key)];
            used.Add(shard);
            foreach (var (name, server) in byName)
            {
                var exists = await server.CommandAsync("EXISTS", key);
                Assert.Equal(name == shard ? ":1\r\n" : ":0\r\n", exists);
            }
        }

        Assert.Equal(3, used.Count);
    }

    private static string Name(JsonElement name) => name.ValueKind == JsonValueKind.Number ? name.GetInt32().ToString(System.Globalization.CultureInfo.InvariantCulture) : name.GetString()!;

    private static RcShardOptions Shard(JsonElement config)
    {
        var shard = new RcShardOptions();
        if (config.TryGetProperty("host", out var host))
        {
            shard.Host = host.GetString()!;
        }

        if (config.TryGetProperty("port", out var port))
        {
            shard.Port = port.GetInt32();
        }

        if (config.TryGetProperty("db", out var db))
        {
            shard.Db = db.GetInt32();
        }

        if (config.TryGetProperty("unix_socket_path", out var socket))
        {
            shard.UnixSocketPath = socket.GetString();
        }

        return shard;
    }
}
