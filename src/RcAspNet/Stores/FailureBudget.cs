namespace RcAspNet.Stores;

/// <summary>
/// The servers that have cost one unit of work (a request) an operation timeout. However many cache calls the work
/// then makes, they skip those servers at once, whatever the servers' circuits say meanwhile: a failed server costs a
/// request one timeout at most. The ambient scope flows with the work's async calls; outside one, only circuits apply.
/// </summary>
internal sealed class FailureBudget
{
    private static readonly AsyncLocal<FailureBudget?> Current = new();
    private readonly Lock _lock = new();
    private List<object>? _failed;

    /// <summary>Opens a scope for one unit of work; disposing it restores the scope around it.</summary>
    public static Scope Begin()
    {
        var outer = Current.Value;
        Current.Value = new FailureBudget();
        return new Scope(outer);
    }

    /// <summary>Whether <paramref name="server"/> already cost the current unit of work a timeout.</summary>
    public static bool HasFailed(object server)
    {
        if (Current.Value is not { } budget || Volatile.Read(ref budget._failed) is null)
        {
            return false;
        }

        lock (budget._lock)
        {
            return budget._failed!.Contains(server);
        }
    }

    /// <summary>Records that <paramref name="server"/> just cost the current unit of work a timeout.</summary>
    public static void Spent(object server)
    {
        if (Current.Value is not { } budget)
        {
            return;
        }

        lock (budget._lock)
        {
            (budget._failed ??= []).Add(server);
        }
    }

    public readonly struct Scope(FailureBudget? outer) : IDisposable
    {
        public void Dispose() => Current.Value = outer;
    }
}
