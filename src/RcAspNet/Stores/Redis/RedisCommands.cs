using System.Text;
using StackExchange.Redis;

namespace RcAspNet.Stores.Redis;

/// <summary>
/// The commands and pipelines a Redis store sends, each one round trip to one server. Multi-key commands are split by
/// hash slot on a cluster node, so that none fails with CROSSSLOT; so are those of a call that began before the store
/// knew it reaches a cluster (its first, before it connected), which the client refuses whole. Nothing here handles
/// failure: callers run these through <see cref="RedisCalls"/>.
/// </summary>
internal static class RedisCommands
{
    /// <summary>
    /// How many members, or scanned keys, one command of a tag invalidation or a clear takes at most: Redis runs a command
    /// to its end before any other client's, and an <c>UNLINK</c> of 1,000 keys took 11.4 ms on a loaded 2-core machine.
    /// </summary>
    public const int PageSize = 256;

    /// <summary>MGET of keys one server holds: one command, or on a cluster node one per hash slot.</summary>
    public static async Task<RedisValue[]?> GetManyAsync(IDatabase db, string[] keys, bool cluster)
    {
        var groups = cluster ? GroupBySlot(keys) : [];
        if (groups.Length <= 1)
        {
            try
            {
                return await db.StringGetAsync(ToRedisKeys(keys)).ConfigureAwait(false);
            }
            catch (RedisCommandException) when (!cluster)
            {
                return await GetManyAsync(db, keys, cluster: true).ConfigureAwait(false);
            }
        }

        var values = new RedisValue[keys.Length];
        var replies = await Task.WhenAll(groups.Select(g => db.StringGetAsync(g.Select(i => (RedisKey)keys[i]).ToArray()))).ConfigureAwait(false);
        for (var g = 0; g < groups.Length; g++)
        {
            for (var j = 0; j < groups[g].Length; j++)
            {
                values[groups[g][j]] = replies[g][j];
            }
        }

        return values;
    }

    /// <summary>
    /// <c>GET</c> answered by <paramref name="server"/> itself, a cluster primary whose circuit the caller checked: sent
    /// to that server, not by the client's slot map, and not redirected (<see cref="CommandFlags.NoRedirect"/>), since a
    /// primary that took over the slot may lack removals its predecessor acknowledged until it is verified. A
    /// redirection (the slot moved, or is migrating), or a server the client does not know yet, is thrown as
    /// <see cref="RedirectedReadException"/>, for the caller to follow once it checked the other server's circuit.
    /// </summary>
    public static async Task<RedisValue> GetOnAsync(IServer? server, string key)
    {
        server = Known(server);
        try
        {
            return Own(server, (RedisValue)await server.ExecuteAsync("GET", OneKey(key), CommandFlags.NoRedirect).ConfigureAwait(false));
        }
        catch (Exception ex) when (RedirectedReadException.Of(ex) is { } redirection)
        {
            throw redirection;
        }
    }

    /// <summary>
    /// The GET of a key of <paramref name="node"/>: as the client routes it on a store's first node (the slot map not
    /// known yet); else answered by the primary's server itself (<see cref="GetOnAsync(IServer?, string)"/>).
    /// </summary>
    public static Task<RedisValue> GetAsync(IDatabase db, RedisNode? node, string key) =>
        node?.EndPoint is null ? db.StringGetAsync(key) : GetOnAsync(node.ServerIn(db.Multiplexer), key);

    /// <summary>As <see cref="GetAsync(IDatabase, RedisNode?, string)"/>, for <c>MGET</c>; a redirection is told to <paramref name="topology"/>.</summary>
    public static Task<RedisValue[]?> GetManyAsync(IDatabase db, RedisNode node, string[] keys, bool cluster, RedisTopology topology) =>
        node.EndPoint is null ? GetManyAsync(db, keys, cluster) : GetManyOnAsync(node.ServerIn(db.Multiplexer), keys, topology);

    /// <summary>As <see cref="GetAsync(IDatabase, RedisNode?, string)"/>, for <c>EXISTS</c>; a redirection is told to <paramref name="topology"/>.</summary>
    public static Task<bool> ExistsAsync(IDatabase db, RedisNode node, string key, RedisTopology topology) =>
        node.EndPoint is null ? db.KeyExistsAsync(key) : ExistsOnAsync(node.ServerIn(db.Multiplexer), key, topology);

    /// <summary>
    /// <c>ASKING</c> then <c>GET</c>, to <paramref name="server"/> itself, for a key of a slot it imports (a redirection
    /// <c>ASK</c> named it), neither redirected further. The client may send another command between them on that
    /// connection, which then takes the <c>ASKING</c>: the GET is redirected again and thrown as
    /// <see cref="RedirectedReadException"/>, as any redirection of <see cref="GetOnAsync(IServer?, string)"/> is.
    /// </summary>
    public static async Task<RedisValue> GetAskingAsync(IServer? server, string key)
    {
        server = Known(server);
        var asking = server.ExecuteAsync("ASKING", Array.Empty<object>(), CommandFlags.NoRedirect);
        var value = server.ExecuteAsync("GET", OneKey(key), CommandFlags.NoRedirect);
        try
        {
            await asking.ConfigureAwait(false);
            return Own(server, (RedisValue)await value.ConfigureAwait(false));
        }
        catch (Exception ex) when (RedirectedReadException.Of(ex) is { } redirection)
        {
            throw redirection;
        }
        finally
        {
            RedisCalls.Observe(asking);
            RedisCalls.Observe(value);
        }
    }

    /// <summary>
    /// As <see cref="GetOnAsync(IServer?, string)"/>, for keys of one cluster primary: one <c>MGET</c> per hash slot,
    /// answered by that server itself; a slot it redirects is all misses, and its redirection is told to
    /// <paramref name="topology"/> (<see cref="RedisTopology.Redirected"/>), so that the next read of the slot goes where
    /// it moved; all keys are misses while the client does not know the server.
    /// </summary>
    public static async Task<RedisValue[]?> GetManyOnAsync(IServer? server, string[] keys, RedisTopology topology)
    {
        var values = new RedisValue[keys.Length];
        if (server is null)
        {
            return values;
        }

        await Task.WhenAll(GroupBySlot(keys).Select(async group =>
        {
            object[] args = [.. group.Select(i => (object)(RedisKey)keys[i])];
            RedisValue[] read;
            try
            {
                read = Own(server, (RedisValue[])(await server.ExecuteAsync("MGET", args, CommandFlags.NoRedirect).ConfigureAwait(false))!);
            }
            catch (Exception ex) when ((ex as RedirectedReadException ?? RedirectedReadException.Of(ex)) is { } redirection)
            {
                topology.Redirected(keys[group[0]], redirection);
                return;
            }

            for (var j = 0; j < group.Length; j++)
            {
                values[group[j]] = read[j];
            }
        })).ConfigureAwait(false);
        return values;
    }

    /// <summary>
    /// As <see cref="GetOnAsync(IServer?, string)"/>, for <c>EXISTS</c>: a key redirected (the redirection told to
    /// <paramref name="topology"/>), or of a server the client does not know yet, does not exist.
    /// </summary>
    public static async Task<bool> ExistsOnAsync(IServer? server, string key, RedisTopology topology)
    {
        if (server is null)
        {
            return false;
        }

        try
        {
            return Own(server, (long)await server.ExecuteAsync("EXISTS", OneKey(key), CommandFlags.NoRedirect).ConfigureAwait(false) > 0);
        }
        catch (Exception ex) when ((ex as RedirectedReadException ?? RedirectedReadException.Of(ex)) is { } redirection)
        {
            topology.Redirected(key, redirection);
            return false;
        }
    }

    /// <summary>
    /// The SETs of many entries in one batch: they leave in one write, back to back, whatever else shares the connection.
    /// An entry with a lease is written under it (<see cref="FillScript"/>).
    /// </summary>
    public static async Task<bool> SetManyAsync(IDatabase db, StoreEntry[] entries)
    {
        var batch = db.CreateBatch();
        var writes = new Task[entries.Length];
        for (var i = 0; i < writes.Length; i++)
        {
            var (key, value, timeToLive, lease) = entries[i];
            writes[i] = lease is { } held
                ? batch.ScriptEvaluateAsync(FillScript, [key, FillLease.KeyOf(key)!], FillArguments(value, timeToLive, held))
                : batch.StringSetAsync(key, value, Ttl(timeToLive));
        }

        batch.Execute();
        await Task.WhenAll(writes).ConfigureAwait(false);
        return true;
    }

    /// <summary>DEL of keys one server holds, and of their fill leases, per hash slot on a cluster node; returns how many keys existed.</summary>
    public static async Task<long> DeleteAsync(IDatabase db, string[] keys, bool cluster)
    {
        var groups = cluster ? GroupBySlot(keys) : [];
        if (groups.Length <= 1)
        {
            try
            {
                return await DeleteWithLeasesAsync(db, keys).ConfigureAwait(false);
            }
            catch (RedisCommandException) when (!cluster)
            {
                return await DeleteAsync(db, keys, cluster: true).ConfigureAwait(false);
            }
        }

        var counts = await Task.WhenAll(groups.Select(g => DeleteWithLeasesAsync(db, [.. g.Select(i => keys[i])]))).ConfigureAwait(false);
        return counts.Sum();
    }

    /// <summary>
    /// Revokes the keys' fill leases, then deletes the keys, back to back in one batch: a load's write, which checks its
    /// lease and writes in one step, either lands before both (and is deleted) or finds its lease gone. Returns how many
    /// keys existed.
    /// </summary>
    public static async Task<long> DeleteWithLeasesAsync(IDatabase db, IReadOnlyList<string> keys)
    {
        RedisKey[] leases = [.. keys.Select(FillLease.KeyOf).OfType<string>().Select(static k => (RedisKey)k)];
        if (leases.Length == 0)
        {
            return await db.KeyDeleteAsync(ToRedisKeys(keys)).ConfigureAwait(false);
        }

        var batch = db.CreateBatch();
        var revoked = batch.KeyDeleteAsync(leases);
        var deleted = batch.KeyDeleteAsync(ToRedisKeys(keys));
        batch.Execute();
        await Task.WhenAll(revoked, deleted).ConfigureAwait(false);
        return deleted.Result;
    }

    /// <summary>Revokes a key's fill lease (<c>KEYS[2]</c>), then deletes the key (<c>KEYS[1]</c>), in one step; returns whether the key existed.</summary>
    public const string DeleteWithLeaseScript = "redis.call('del', KEYS[2]) return redis.call('del', KEYS[1])";

    /// <summary>
    /// Takes a key's fill lease (<c>KEYS[1]</c>) with a new token (<c>ARGV[1]</c>), or shares the one another load holds,
    /// giving it <c>ARGV[2]</c> milliseconds to live from now; answers the lease's token.
    /// </summary>
    public const string LeaseScript = "redis.call('set', KEYS[1], ARGV[1], 'NX') redis.call('pexpire', KEYS[1], ARGV[2]) return redis.call('get', KEYS[1])";

    /// <summary>
    /// Writes what a load computed (<c>KEYS[1]</c>: the entry, <c>ARGV[2]</c> for <c>ARGV[3]</c> milliseconds) if its lease
    /// (<c>KEYS[2]</c>) still holds its token (<c>ARGV[1]</c>), and the key holds what the load's read found
    /// (<c>ARGV[4]</c>, <see cref="FillLease.Expect"/>): after a miss, no string (another Redis type, which the read took
    /// for a miss, is written over); else the same tracked entry (its 36-byte header: windows, write time, freshness) or
    /// the same bytes (their SHA-1), or nothing any more. A write lets the lease go; a refused one leaves it to the other
    /// loads that share it. Returns 1 when it wrote.
    /// </summary>
    public const string FillScript = """
        if redis.call('get', KEYS[2]) ~= ARGV[1] then return 0 end
        local kind = redis.call('type', KEYS[1])['ok']
        if ARGV[4] == '' then
          if kind == 'string' then return 0 end
        elseif kind ~= 'none' then
          if kind ~= 'string' then return 0 end
          local mode = string.sub(ARGV[4], 1, 1)
          if mode == 'T' then
            if redis.call('getrange', KEYS[1], 0, 35) ~= string.sub(ARGV[4], 2) then return 0 end
          elseif redis.sha1hex(redis.call('get', KEYS[1])) ~= string.sub(ARGV[4], 2) then
            return 0
          end
        end
        redis.call('del', KEYS[2])
        redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3])
        return 1
        """;

    public static async Task<string?> LeaseAsync(IDatabase db, string leaseKey) =>
        (string?)await db.ScriptEvaluateAsync(LeaseScript, [leaseKey], [NewLeaseToken(), Milliseconds(FillLease.Lifetime)]).ConfigureAwait(false);

    /// <summary>The leases of many keys in one batch; a key that can have none answers null.</summary>
    public static async Task<string?[]> LeaseManyAsync(IDatabase db, string[] keys)
    {
        var batch = db.CreateBatch();
        var leases = new Task<RedisResult>?[keys.Length];
        var lifetime = Milliseconds(FillLease.Lifetime);
        for (var i = 0; i < keys.Length; i++)
        {
            if (FillLease.KeyOf(keys[i]) is { } leaseKey)
            {
                leases[i] = batch.ScriptEvaluateAsync(LeaseScript, [leaseKey], [NewLeaseToken(), lifetime]);
            }
        }

        batch.Execute();
        await Task.WhenAll(leases.OfType<Task<RedisResult>>()).ConfigureAwait(false);
        var tokens = new string?[keys.Length];
        for (var i = 0; i < keys.Length; i++)
        {
            tokens[i] = leases[i] is { } lease ? (string?)lease.Result ?? FillLease.Unavailable : null;
        }

        return tokens;
    }

    public static async Task<bool> FillAsync(IDatabase db, string key, byte[] value, TimeSpan timeToLive, FillLease lease) =>
        (long)await db.ScriptEvaluateAsync(FillScript, [key, FillLease.KeyOf(key)!], FillArguments(value, timeToLive, lease)).ConfigureAwait(false) == 1;

    /// <summary>A server a read must go to itself; one the client does not know yet is thrown as a redirection that names no server, a miss.</summary>
    private static IServer Known(IServer? server) =>
        server ?? throw new RedirectedReadException(new InvalidOperationException("The client does not know the server yet."));

    /// <summary>
    /// The reply of <paramref name="server"/>, unless the client takes the server for a replica now: it then sends
    /// <c>READONLY</c> before a read, and a replica answers the reads of its primary's slots instead of redirecting
    /// them, with that primary's data, which its circuit does not vouch for (a primary demoted while its connection
    /// stayed open). Such a reply is thrown as a redirection that names no server, a miss.
    /// </summary>
    private static T Own<T>(IServer server, T reply) =>
        server.IsReplica ? throw new RedirectedReadException(new InvalidOperationException("The server the read was sent to is a replica now.")) : reply;

    /// <summary>A key as the one argument of a command sent through <see cref="IServer.ExecuteAsync(string, ICollection{object}, CommandFlags)"/>: an array, not the list a collection expression makes for that parameter.</summary>
    private static object[] OneKey(string key) => [(RedisKey)key];

    private static RedisValue[] FillArguments(byte[] value, TimeSpan timeToLive, FillLease lease) =>
        [lease.Token, value, Milliseconds(timeToLive), lease.Expect];

    private static string NewLeaseToken() => Guid.NewGuid().ToString("N");

    /// <summary><c>GET</c> and <c>PTTL</c> in one round trip, for the near cache.</summary>
    /// <summary>
    /// <c>GET</c> and <c>PTTL</c> in one round trip, for the near cache on one server. PTTL's own reply, not the client's
    /// <c>KeyTimeToLiveAsync</c>, which answers null both for a key without TTL (-1) and for one gone since the GET (-2).
    /// </summary>
    public static async Task<(byte[]? Value, long TimeToLiveMs)> GetWithTimeToLiveAsync(IDatabase db, string key)
    {
        var batch = db.CreateBatch();
        var value = batch.StringGetAsync(key);
        var ttl = batch.ExecuteAsync("PTTL", (RedisKey)key);
        batch.Execute();
        return ((byte[]?)await value.ConfigureAwait(false), (long)await ttl.ConfigureAwait(false));
    }

    /// <summary>
    /// <c>GET</c> and <c>PTTL</c> (milliseconds; -1: no TTL) in one round trip to <paramref name="server"/> itself
    /// (<see cref="RedisNode.ServerIn"/>), for the near cache on a cluster: sent to that server, not by the client's slot
    /// map, and not redirected (<see cref="CommandFlags.NoRedirect"/>), so that a reply is that server's own. A
    /// redirection, or a server the client does not know, is thrown as <see cref="RedirectedReadException"/>.
    /// </summary>
    public static async Task<(byte[]? Value, long TimeToLiveMs)> GetWithTimeToLiveAsync(IServer? server, string key)
    {
        server = Known(server);
        object[] args = [(RedisKey)key];
        var value = server.ExecuteAsync("GET", args, CommandFlags.NoRedirect);
        var ttl = server.ExecuteAsync("PTTL", args, CommandFlags.NoRedirect);
        try
        {
            await Task.WhenAll(value, ttl).ConfigureAwait(false);
        }
        catch (Exception) when (RedirectedReadException.RedirectionIn(value, ttl) is { } redirection)
        {
            throw RedirectedReadException.Of(redirection) ?? new RedirectedReadException(redirection);
        }

        return Own(server, ((byte[]?)value.Result, (long)ttl.Result));
    }

    public static async Task<long> IncrementAsync(IDatabase db, string key, long delta, TimeSpan timeToLive)
    {
        var value = await db.StringIncrementAsync(key, delta).ConfigureAwait(false);
        if (value == delta)
        {
            // Created by this call (or it held 0): give it a lifetime, as a cache entry must have one.
            await db.KeyExpireAsync(key, Ttl(timeToLive)).ConfigureAwait(false);
        }

        return value;
    }

    /// <summary>
    /// Gives a sliding entry a new lifetime if it still begins with the header read (<c>ARGV[1]</c>): compare and
    /// <c>PEXPIRE</c> (<c>ARGV[2]</c> milliseconds), atomically, so that a value written since the read keeps its own
    /// lifetime. Another Redis type under the key is no entry (<c>pcall</c>). Returns 1 when it renewed.
    /// </summary>
    public const string RenewScript =
        "if redis.pcall('getrange', KEYS[1], 0, #ARGV[1] - 1) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";

    public static async Task<bool> RenewAsync(IDatabase db, string key, ReadOnlyMemory<byte> header, TimeSpan timeToLive) =>
        (long)await db.ScriptEvaluateAsync(RenewScript, [key], [header, Milliseconds(timeToLive)]).ConfigureAwait(false) == 1;

    /// <summary>Gives a fleet lock a new lifetime if the token still holds it: compare and <c>PEXPIRE</c>, atomically.</summary>
    public static async Task<bool> RenewLockAsync(IDatabase db, string key, string token, TimeSpan lifetime) =>
        (long)await db.ScriptEvaluateAsync(
            "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end",
            [key],
            [token, Milliseconds(lifetime)]).ConfigureAwait(false) == 1;

    /// <summary>Releases a fleet lock if the token still holds it: compare and <c>DEL</c>, atomically, so that a lock taken over is never released by its old holder.</summary>
    public static async Task<bool> UnlockAsync(IDatabase db, string key, string token) =>
        (long)await db.ScriptEvaluateAsync(
            "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end",
            [key],
            [token]).ConfigureAwait(false) == 1;

    /// <summary>
    /// Records members under a tag (dropping those expired for longer than <see cref="TagKeys.PruneMargin"/>, giving the
    /// tag the lifetime of its longest-lived member and that margin: a fill registers before it writes, so its entry's
    /// lifetime starts a little after its member's score was counted),
    /// then reads its version, in that order in one pipeline: what is added before the version is read is seen by any
    /// invalidation that changes the version after.
    /// </summary>
    public static async Task<bool> TagAsync(IDatabase db, TagKeys tag, IReadOnlyList<TagMember> members, string? expectedVersion, long now)
    {
        var batch = db.CreateBatch();
        var lifetime = TimeSpan.FromMilliseconds(Math.Clamp(members.Max(static m => m.ExpiresAt) - now + (long)TagKeys.PruneMargin.TotalMilliseconds, 1, (long)TimeSpan.MaxValue.TotalMilliseconds));
        // GT: a key registered again keeps its longest registration, whatever order writes of it registered in.
        var add = batch.SortedSetAddAsync(tag.Members, [.. members.Select(static m => new SortedSetEntry(m.Key, m.ExpiresAt))], SortedSetWhen.GreaterThan);
        var prune = batch.SortedSetRemoveRangeByScoreAsync(tag.Members, double.NegativeInfinity, now - (long)TagKeys.PruneMargin.TotalMilliseconds);
        var first = batch.KeyExpireAsync(tag.Members, lifetime, ExpireWhen.HasNoExpiry);
        var longer = batch.KeyExpireAsync(tag.Members, lifetime, ExpireWhen.GreaterThanCurrentExpiry);
        var version = batch.StringGetAsync(tag.Version);
        batch.Execute();
        await Task.WhenAll(add, prune, first, longer, version).ConfigureAwait(false);
        return (string?)version.Result == expectedVersion;
    }

    /// <summary>
    /// Gives a tag a new version and moves its members to the invalidation's own set (<c>RENAMENX</c>, O(1)), in that
    /// order in one pipeline. Writers that read the new version register into a new members set, which the deletion of
    /// the moved set never touches. Sent again (the first attempt timed out, yet the server carried it out), it moves
    /// nothing more: the set it names already holds what the first attempt moved.
    /// </summary>
    public static async Task<bool> BumpTagAsync(IDatabase db, TagKeys tag, string drain, TimeSpan versionLifetime)
    {
        var batch = db.CreateBatch();
        var bump = batch.StringSetAsync(tag.Version, drain[(tag.Members.Length + 1)..], versionLifetime);
        var move = batch.KeyRenameAsync(tag.Members, drain, When.NotExists);
        batch.Execute();
        await bump.ConfigureAwait(false);
        try
        {
            await move.ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (ex.Message.Contains("no such key", StringComparison.OrdinalIgnoreCase))
        {
            // No members now: none to delete, or the first attempt moved them already.
        }

        return true;
    }

    /// <summary>Up to <see cref="PageSize"/> members of a moved tag set, which stay in it until <see cref="ForgetMembersAsync"/>.</summary>
    public static async Task<string[]> MembersAsync(IDatabase db, string drain) =>
        [.. (await db.SortedSetRangeByRankAsync(drain, 0, PageSize - 1).ConfigureAwait(false)).Select(static m => (string)m!)];

    /// <summary>Takes members whose entries were deleted out of a moved tag set (the set goes with its last member).</summary>
    public static Task<long> ForgetMembersAsync(IDatabase db, string drain, string[] members) =>
        db.SortedSetRemoveAsync(drain, [.. members.Select(static m => (RedisValue)m)]);

    /// <summary>The next page of a SCAN: up to <see cref="PageSize"/> keys, none when the scan is over.</summary>
    public static async Task<string[]> NextPageAsync(IAsyncEnumerator<RedisKey> keys)
    {
        var page = new List<string>(PageSize);
        while (page.Count < PageSize && await keys.MoveNextAsync().ConfigureAwait(false))
        {
            page.Add(keys.Current!);
        }

        return [.. page];
    }

    /// <summary>
    /// What a clear of <paramref name="prefix"/> scans, in order: the fill leases of keys under it (both forms of
    /// <see cref="CompanionKey"/>), so that a load under way cannot write a key the clear found absent, then the keys.
    /// </summary>
    public static string[] ClearPatterns(string prefix) =>
        prefix.Length == 0 ? [FillLease.Prefix + "*", "*"] : [FillLease.Prefix + PrefixPattern(prefix), FillLease.Prefix + "{" + PrefixPattern(prefix), PrefixPattern(prefix)];

    /// <summary>A glob that matches every key starting with <paramref name="prefix"/>.</summary>
    public static string PrefixPattern(string prefix)
    {
        var builder = new StringBuilder(prefix.Length + 8);
        foreach (var c in prefix)
        {
            if (c is '*' or '?' or '[' or ']' or '\\')
            {
                builder.Append('\\');
            }

            builder.Append(c);
        }

        return builder.Append('*').ToString();
    }

    /// <summary>Redis takes whole milliseconds, at least one (and at most what a <see cref="TimeSpan"/> holds).</summary>
    public static TimeSpan Ttl(TimeSpan timeToLive) => TimeSpan.FromMilliseconds(Milliseconds(timeToLive));

    public static long Milliseconds(TimeSpan timeToLive) => Math.Clamp((long)Math.Ceiling(timeToLive.TotalMilliseconds), 1, (long)TimeSpan.MaxValue.TotalMilliseconds);

    /// <summary>Indexes of <paramref name="keys"/> by hash slot.</summary>
    public static int[][] GroupBySlot(IReadOnlyList<string> keys)
    {
        var groups = new Dictionary<int, List<int>>();
        for (var i = 0; i < keys.Count; i++)
        {
            var slot = HashSlot.Of(keys[i]);
            if (!groups.TryGetValue(slot, out var group))
            {
                groups[slot] = group = [];
            }

            group.Add(i);
        }

        return groups.Values.Select(static g => g.ToArray()).ToArray();
    }

    private static RedisKey[] ToRedisKeys(IReadOnlyList<string> keys)
    {
        var redisKeys = new RedisKey[keys.Count];
        for (var i = 0; i < redisKeys.Length; i++)
        {
            redisKeys[i] = keys[i];
        }

        return redisKeys;
    }
}
