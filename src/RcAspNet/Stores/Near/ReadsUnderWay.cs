namespace RcAspNet.Stores.Near;

/// <summary>
/// The reads of one key from Redis that are under way at once on this node, and what they saw so far. Guarded by the
/// key's stripe lock in <see cref="NearCopies"/>.
/// </summary>
internal sealed class ReadsUnderWay
{
    /// <summary>Gets or sets how many reads of the group have not ended.</summary>
    public int Count { get; set; }

    /// <summary>Gets or sets whether a read of the group has seen a value (<see cref="Value"/>, null for no key).</summary>
    public bool Seen { get; set; }

    public byte[]? Value { get; set; }

    /// <summary>Gets or sets whether two answers disagreed or an invalidation arrived: no read of the group is kept.</summary>
    public bool Disagree { get; set; }
}
