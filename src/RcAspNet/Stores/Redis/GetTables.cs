namespace RcAspNet.Stores.Redis;

/// <summary>
/// The tables of GETs in flight (<see cref="SharedGets"/>) of every Redis store one application built, so that a write
/// or removal through one store closes the GETs of its keys in all of them: two stores may share a server (a named cache
/// with a store of its own on the default cache's server), and one's keys may lie under the other's namespace, or be
/// cleared by it. Each store keeps a table of its own, as two servers may hold the same key; closing a GET of another
/// server's key costs only its sharing.
/// </summary>
internal sealed class GetTables
{
    private readonly Lock _gate = new();
    private SharedGets[] _tables = [];

    /// <summary>A table for one more store.</summary>
    public SharedGets Add()
    {
        var table = new SharedGets();
        lock (_gate)
        {
            Volatile.Write(ref _tables, [.. _tables, table]);
        }

        return table;
    }

    /// <summary>A store writes or removes <paramref name="key"/>: no read that begins now joins a GET of it begun before, in any store.</summary>
    public void Forget(string key)
    {
        var slot = SharedGets.SlotOf(key);
        foreach (var table in Volatile.Read(ref _tables))
        {
            table.Forget(key, slot);
        }
    }

    /// <summary>A store clears namespaces: no read that begins now joins any GET begun before, in any store.</summary>
    public void ForgetAll()
    {
        foreach (var table in Volatile.Read(ref _tables))
        {
            table.ForgetAll();
        }
    }
}
