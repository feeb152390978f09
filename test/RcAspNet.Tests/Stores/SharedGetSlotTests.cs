using Microsoft.Extensions.DependencyInjection;
using RcAspNet.Caching;
using RcAspNet.Stores.Redis;
using RcAspNet.Tests.Infrastructure;
using StackExchange.Redis;

namespace RcAspNet.Tests.Stores;

/// <summary>
/// The slot table itself (<see cref="SharedGets"/>) on a real server: a slot serves one GET at a
/// time, a reused slot never hands one key's reply to a reader of another, a GET whose key changed before it was
/// sent is never opened to readers, and one whose reply came back is joined no more but taken over by the next GET of
/// its slot. The server of this class is its
/// own, frozen while readers join, so that no reply comes back before the test says.
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
        _server = await RedisServer.StartAsync();
        _connection = await ConnectionMultiplexer.ConnectAsync(_server.EndPoint);
        var prefix = SharedRedis.UniqueNamespace();
        _first = prefix + "first";

        // Another key in the same slot: the table is small, so one is near.
        _second = Enumerable.Range(0, 10_000).Select(i => $"{prefix}other:{i}").First(k => SharedGets.SlotOf(k) == SharedGets.SlotOf(_first));
        await Database.StringSetAsync(_first, "first value");
        await Database.StringSetAsync(_second, "second value");
    }

    public async Task DisposeAsync()
    {
        await _connection.DisposeAsync();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task ASlotServesOneGetAtATime_AndOnlyReadersOfItsKeyJoinIt()
    {
        var gets = new SharedGets();
        var slot = SharedGets.SlotOf(_first);
        var ticket = gets.Take(_first, slot);
        Assert.True(ticket >= 0);
        Assert.Equal(-1, gets.Take(_second, slot));
        Assert.Null(gets.TryJoin(_first, slot)); // taken, not sent: nothing to join yet

        var (reply, joined) = WhileFrozen(() =>
        {
            var reply = gets.Send(Database, _first, slot, ticket);
            Assert.Null(gets.TryJoin(_second, slot));
            return (reply, gets.TryJoin(_first, slot));
        });
        Assert.Same(reply, joined);
        Assert.Equal("first value", (string?)await joined!);
        Assert.True(gets.Seal(slot, ticket));
        Assert.Null(gets.TryJoin(_first, slot));

        // The slot, reused by the other key, never answers the first key's readers.
        var next = gets.Take(_second, slot);
        Assert.True(next > ticket);
        var (second, joinedSecond) = WhileFrozen(() =>
        {
            var second = gets.Send(Database, _second, slot, next);
            Assert.Null(gets.TryJoin(_first, slot));
            return (second, gets.TryJoin(_second, slot));
        });
        Assert.Equal("second value", (string?)await joinedSecond!);
        Assert.Equal("second value", (string?)await second);
        Assert.True(gets.Seal(slot, next));
    }

    [Fact]
    public async Task AGetWhoseReplyCameBack_IsJoinedNoMore_ThoughItsReaderHasNotSealedItYet()
    {
        // Its reader's continuation may wait long on a busy pool: a write by another node meanwhile would go unseen by
        // a reader that joined the reply from before it.
        var gets = new SharedGets();
        var slot = SharedGets.SlotOf(_first);
        var ticket = gets.Take(_first, slot);
        var reply = gets.Send(Database, _first, slot, ticket);
        Assert.Equal("first value", (string?)await reply);
        Assert.Null(gets.TryJoin(_first, slot));
        Assert.False(gets.Seal(slot, ticket));
    }

    [Fact]
    public async Task AGetWhoseReplyCameBack_IsTakenOverByTheNextReader_AndTheReadersAfterItJoinThatOne()
    {
        // Until its reader's continuation runs, which on a busy pool is long after the reply, the slot serves a new GET,
        // so that the readers that come meanwhile share it instead of each sending its own.
        var gets = new SharedGets();
        var slot = SharedGets.SlotOf(_first);
        var ticket = gets.Take(_first, slot);
        Assert.Equal("first value", (string?)await gets.Send(Database, _first, slot, ticket));
        Assert.Null(gets.TryJoin(_first, slot));

        var next = gets.Take(_second, slot);
        Assert.True(next > ticket);
        var (reply, joined, late) = WhileFrozen(() =>
        {
            var reply = gets.Send(Database, _second, slot, next);
            Assert.Equal(-1, gets.Take(_first, slot)); // in flight: not taken over
            Assert.Null(gets.TryJoin(_first, slot)); // the slot's key is the new GET's
            var joined = gets.TryJoin(_second, slot);

            // The first GET's reader seals it at last: nobody had joined it, and it leaves the slot to the GET that took it.
            Assert.False(gets.Seal(slot, ticket));
            return (reply, joined, gets.TryJoin(_second, slot));
        });
        Assert.Same(reply, joined);
        Assert.Same(reply, late);
        Assert.Equal("second value", (string?)await reply);
        Assert.True(gets.Seal(slot, next));
        Assert.True(gets.Take(_first, slot) > next); // free again
    }

    [Fact]
    public async Task AGetTakenOver_StillSaysItsReadersJoinedIt_WhenItIsSealed()
    {
        // Its readers hold its reply's array: its own reader must answer with a copy.
        var gets = new SharedGets();
        var slot = SharedGets.SlotOf(_first);
        var ticket = gets.Take(_first, slot);
        var (reply, joined) = WhileFrozen(() =>
        {
            var reply = gets.Send(Database, _first, slot, ticket);
            return (reply, gets.TryJoin(_first, slot));
        });
        Assert.Same(reply, joined);
        await reply;
        var next = gets.Take(_first, slot);
        Assert.True(next > ticket);
        Assert.True(gets.Seal(slot, ticket));
        Assert.Equal("first value", (string?)await gets.Send(Database, _first, slot, next));
        Assert.False(gets.Seal(slot, next));
    }

    [Fact]
    public async Task AGetClosedByAWrite_IsNotTakenOver_TillItsReaderSealsIt()
    {
        // Its GET may not be sent yet: its reply, written when it is, would land over the GET that took the slot.
        var gets = new SharedGets();
        var slot = SharedGets.SlotOf(_first);
        var ticket = gets.Take(_first, slot);
        gets.Forget(_first);
        Assert.Equal(-1, gets.Take(_first, slot));
        Assert.Equal("first value", (string?)await gets.Send(Database, _first, slot, ticket));
        Assert.Equal(-1, gets.Take(_first, slot));
        Assert.False(gets.Seal(slot, ticket));
        Assert.True(gets.Take(_first, slot) > ticket);
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

        await AssertClosedAsync(gets, gets.ForgetAll); // sealed: free again
    }

    [Fact]
    public async Task AKeyForgottenThroughAnyStoresTables_ClosesItsGetsInEveryStore()
    {
        // A named cache with a store of its own may share the default cache's server, its keys under the default
        // cache's namespace: a write through either closes the GETs of the key in both.
        var tables = new GetTables();
        var own = tables.Add();
        var other = tables.Add();
        var slot = SharedGets.SlotOf(_first);
        var ticket = other.Take(_first, slot);
        var ownTicket = own.Take(_first, slot);
        var (reply, ownReply) = WhileFrozen(() =>
        {
            var reply = other.Send(Database, _first, slot, ticket);
            var ownReply = own.Send(Database, _first, slot, ownTicket);
            Assert.NotNull(other.TryJoin(_first, slot));
            Assert.NotNull(own.TryJoin(_first, slot));
            tables.Forget(_first);
            Assert.Null(other.TryJoin(_first, slot));
            Assert.Null(own.TryJoin(_first, slot));
            return (reply, ownReply);
        });
        await Task.WhenAll(reply, ownReply);
        Assert.True(other.Seal(slot, ticket));
        Assert.True(own.Seal(slot, ownTicket));

        await AssertClosedAsync(other, tables.ForgetAll);

        // Every Redis store of one application is built with the same tables.
        await using var services = TestServices.Build(o =>
        {
            TestServices.Redis(o, _server);
            o.Namespace = SharedRedis.UniqueNamespace();
            o.Caches["users"] = new RcNamedCacheOptions { Store = RcStoreKind.Redis, Redis = _server.EndPoint };
        });
        var stores = services.GetRequiredService<CacheRegistry>().Stores.Cast<RedisStore>().ToArray();
        Assert.Equal(2, stores.Length);
        Assert.Same(stores[0].Tables, stores[1].Tables);
    }

    /// <summary>
    /// A GET of the first key taken (the slot is free) and sent in <paramref name="gets"/>, joined, then closed by
    /// <paramref name="close"/>: joined no more, and its one reader counted when it is sealed.
    /// </summary>
    private async Task AssertClosedAsync(SharedGets gets, Action close)
    {
        var slot = SharedGets.SlotOf(_first);
        var ticket = gets.Take(_first, slot);
        Assert.True(ticket >= 0);
        var reply = WhileFrozen(() =>
        {
            var reply = gets.Send(Database, _first, slot, ticket);
            Assert.NotNull(gets.TryJoin(_first, slot));
            close();
            Assert.Null(gets.TryJoin(_first, slot));
            return reply;
        });
        await reply;
        Assert.True(gets.Seal(slot, ticket)); // one reader joined before the close
    }

    /// <summary>Runs <paramref name="steps"/> while the server is frozen (SIGSTOP): no reply comes back meanwhile.</summary>
    private T WhileFrozen<T>(Func<T> steps)
    {
        _server.Pause();
        try
        {
            return steps();
        }
        finally
        {
            _server.Resume();
        }
    }
}
