namespace RcAspNet.Stores;

/// <summary>
/// The servers that have cost one unit of work (a request) an operation timeout. However many cache calls the work
/// then makes, they skip those servers at once, whatever the servers' circuits say meanwhile: a failed server costs a
/// request one timeout at most. The ambient scope flows with the work's async calls; outside one, only circuits apply.
/// </summary>
internal sealed class FailureBudget
{
    private static readonly AsyncLocal<FailureBudget?> Current = new();

    // Replaced whole, never changed in place: a request's calls read it without a lock (one per request cost more
    // than the rest of the budget; benchmarks/http/allocations.sh).
    private object[]? _failed;

    /// <summary>
    /// Opens a budget for the unit of work of the calling async method. Nothing needs restoring after: the end of an async
    /// method gives its caller back its own context (restoring it anyway cost every request a second execution context).
    /// </summary>
    public static void Open() => Current.Value = new FailureBudget();

    /// <summary>Whether <paramref name="server"/> already cost the current unit of work a timeout.</summary>
    public static bool HasFailed(object server) =>
        Current.Value is { } budget && Volatile.Read(ref budget._failed) is { } failed && Array.IndexOf(failed, server) >= 0;

    /// <summary>Records that <paramref name="server"/> just cost the current unit of work a timeout.</summary>
    public static void Spent(object server)
    {
        if (Current.Value is not { } budget)
        {
            return;
        }

        for (var failed = Volatile.Read(ref budget._failed); ; failed = Volatile.Read(ref budget._failed))
        {
            if (failed is not null && Array.IndexOf(failed, server) >= 0)
            {
                return;
            }

            object[] more = failed is null ? [server] : [.. failed, server];
            if (Interlocked.CompareExchange(ref budget._failed, more, failed) == failed)
            {
                return;
            }
        }
    }
}
