using RcAspNet.Stores.Redis;
using RcAspNet.Tests.Infrastructure;
using StackExchange.Redis;

namespace RcAspNet.Tests.Stores;

/// <summary>
/// The slot table itself (<see cref="SharedGets"/>) on a real server: a slot serves one GET at a
/// time, a reused slot never hands one key's reply to a reader of another, and a GET whose key changed before it was
/// sent is never opened to readers.
/// </summary>
public sealed class SharedGetSlotTests : IAsyncLifetime
{
    private RedisServer _server = null!;
    private ConnectionMultiplexer _connection = null!;
    private string _first = null!;
    private string _second = null!;

    private IDatabase Database => _connection.GetDatabase();

    public async Task InitializeAsync()
    {
        _server = await SharedRedis.Single;
        _connection = await ConnectionMultiplexer.ConnectAsync(_server.EndPoint);
        var prefix = SharedRedis.UniqueNamespace();
        _first = prefix + "first";

        // Another key in the same slot: the table is small, so one is near.
        _second = Enumerable.Range(0, 10_000).Select(i => $"{prefix}other:{i}").First(k => SharedGets.SlotOf(k) == SharedGets.SlotOf(_first));
        await Database.StringSetAsync(_first, "first value");
        await Database.StringSetAsync(_second, "second value");
    }

    public async Task DisposeAsync() => await _connection.DisposeAsync();

    [Fact]
    public async Task ASlotServesOneGetAtATime_AndOnlyReadersOfItsKeyJoinIt()
    {
        var gets = new SharedGets();
        var slot = SharedGets.SlotOf(_first);
        var ticket = gets.Take(_first, slot);
        Assert.True(ticket >= 0);
        Assert.Equal(-1, gets.Take(_second, slot));
        Assert.Null(gets.TryJoin(_first, slot)); // taken, not sent: nothing to join yet

        var reply = gets.Send(Database, _first, slot, ticket);
        Assert.Null(gets.TryJoin(_second, slot));
        var joined = gets.TryJoin(_first, slot);
        Assert.Same(reply, joined);
        Assert.Equal("first value", (string?)await joined!);
        Assert.True(gets.Seal(slot, ticket));
        Assert.Null(gets.TryJoin(_first, slot));

        // The slot, reused by the other key, never answers the first key's readers.
        var next = gets.Take(_second, slot);
        Assert.True(next > ticket);
        var second = gets.Send(Database, _second, slot, next);
        Assert.Null(gets.TryJoin(_first, slot));
        Assert.Equal("second value", (string?)await gets.TryJoin(_second, slot)!);
        Assert.Equal("second value", (string?)await second);
        Assert.True(gets.Seal(slot, next));
    }

    [Fact]
    public async Task AGetWhoseKeyChangedBeforeItWasSent_IsNeverOpened_AndAnOpenOneIsClosed()
    {
        var gets = new SharedGets();
        var slot = SharedGets.SlotOf(_first);
        var ticket = gets.Take(_first, slot);
        gets.Forget(_second); // another key of the slot closes nothing
        gets.Forget(_first);
        Assert.Equal("first value", (string?)await gets.Send(Database, _first, slot, ticket));
        Assert.Null(gets.TryJoin(_first, slot));
        Assert.False(gets.Seal(slot, ticket));

        ticket = gets.Take(_first, slot);
        Assert.True(ticket >= 0); // sealed: free again
        var reply = gets.Send(Database, _first, slot, ticket);
        Assert.NotNull(gets.TryJoin(_first, slot));
        gets.ForgetAll();
        Assert.Null(gets.TryJoin(_first, slot));
        await reply;
        Assert.True(gets.Seal(slot, ticket)); // one reader joined before the clear
    }
}
