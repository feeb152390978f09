using System.Collections.Concurrent;

namespace RcAspNet.Batching;

/// <summary>
/// One call of a load-many loader for the misses of a flush whose loads have a policy (fail-safe, timeouts, eager
/// refresh, fleet): each miss goes through the cache's loader on its own, and the call is made once every miss of the
/// group has either asked for its value or been settled otherwise (a hit, a load joined in this process, a key another
/// node loads), with the arguments of those that asked. A miss that asks later (it took over a fleet lock, say) gets a
/// call of its own. The call serves lookups of other requests too (they join its keys' loads), so no one's token
/// cancels it: each lookup stops waiting on its own.
/// </summary>
internal sealed class GroupCall<TArg, T>(Func<IReadOnlyList<TArg>, CancellationToken, ValueTask<IReadOnlyDictionary<TArg, T>>> loadMany, int members)
    where TArg : notnull
{
    private readonly TaskCompletionSource<IReadOnlyDictionary<TArg, T>> _call = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConcurrentQueue<TArg> _arguments = new();
    private readonly ConcurrentDictionary<TArg, bool> _missing = new();
    private int _pending = members;

    /// <summary>A miss of the group, counted once: when it asks for its value, or when it is settled.</summary>
    public sealed class Member
    {
        internal int Counted;
    }

    public void Settle(Member member)
    {
        if (Interlocked.Exchange(ref member.Counted, 1) == 0)
        {
            Decided();
        }
    }

    /// <summary>Whether the loader left <paramref name="argument"/> out of its answer: resolved to default, and not stored.</summary>
    public bool IsMissing(TArg argument) => _missing.ContainsKey(argument);

    public async ValueTask<T> ValueAsync(Member member, TArg argument, CancellationToken token)
    {
        Task<IReadOnlyDictionary<TArg, T>> call;
        if (Interlocked.Exchange(ref member.Counted, 1) == 0)
        {
            _arguments.Enqueue(argument);
            call = _call.Task;
            Decided();
        }
        else
        {
            call = CallAsync([argument], token);
        }

        var values = await call.WaitAsync(token).ConfigureAwait(false);
        if (values.TryGetValue(argument, out var value))
        {
            return value;
        }

        _missing[argument] = true;
        return default!;
    }

    private void Decided()
    {
        if (Interlocked.Decrement(ref _pending) == 0)
        {
            _ = FireAsync();
        }
    }

    private async Task FireAsync()
    {
        try
        {
            var arguments = _arguments.Distinct().ToArray();
            _call.TrySetResult(arguments.Length == 0 ? new Dictionary<TArg, T>() : await CallAsync(arguments, CancellationToken.None).ConfigureAwait(false));
        }
        catch (Exception ex)
        {
            _call.TrySetException(ex);
        }
    }

    private async Task<IReadOnlyDictionary<TArg, T>> CallAsync(IReadOnlyList<TArg> arguments, CancellationToken token) =>
        await loadMany(arguments, token).ConfigureAwait(false) ?? throw new InvalidOperationException("A load-many loader returned null instead of a dictionary.");
}
