namespace RcAspNet;

/// <summary>
/// What a removal did: how many entries it removed, and how many removals it could not deliver yet. A removal that
/// could not reach its server (a timeout, a refused connection, an open circuit) is kept for that server and delivered,
/// in order, as soon as the server answers again; until then this node neither reads from nor writes to that server,
/// so what was removed is never served by this node. <see cref="Pending"/> counts the keys kept, and a tag whose
/// invalidation is kept counts once.
/// </summary>
/// <param name="Removed">The entries that were there and are gone.</param>
/// <param name="Pending">The removals kept for delivery later: keys, or a tag or a clear counted once.</param>
public readonly record struct RcRemovalResult(long Removed, long Pending)
{
    /// <summary>Gets whether every removal reached its server.</summary>
    public bool IsComplete => Pending == 0;
}
