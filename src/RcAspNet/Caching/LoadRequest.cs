namespace RcAspNet.Caching;

/// <summary>
/// One key to load: its factory, how its value is encoded and decoded, its entry options and its resolved policy.
/// The loader runs <see cref="Factory"/> at most once per request, and calls <see cref="Settled"/> when it knows it
/// never will (a hit, a load joined in this process, a value the fleet provided or the load read back), so that a batch
/// that loads many keys with one call knows when every key has been decided.
/// </summary>
/// <param name="key">The key as the caller gave it.</param>
/// <param name="namespacedKey">The key with the namespace.</param>
/// <param name="factory">Computes the value.</param>
/// <param name="options">The entry's options, with its tags.</param>
/// <param name="policy">How it loads.</param>
/// <param name="encode">The bytes to store for a value, or null to store nothing.</param>
/// <param name="decode">Reads stored bytes; false for bytes that are not a value (a miss).</param>
internal sealed class LoadRequest<T>(string key, string namespacedKey, Func<CancellationToken, ValueTask<T>> factory, RcEntryOptions? options, LoadPolicy policy, Func<T, byte[]?> encode, Decoder<T> decode)
{
    private int _decided;

    public string Key => key;

    public string NamespacedKey => namespacedKey;

    public RcEntryOptions? Options => options;

    /// <summary>Gets the entry's tags: its options' unless the caller gave them apart (an endpoint's, made per request, over options made once).</summary>
    public IReadOnlyList<string>? Tags { get; init; } = options?.Tags;

    public LoadPolicy Policy => policy;

    public Func<T, byte[]?> Encode => encode;

    /// <summary>
    /// Gets or sets what to call, on the caller's thread, when this request starts a load of its own (before its factory
    /// may run in the background, past the caller): <c>[RcCached]</c> takes what its render needs from the request then.
    /// </summary>
    public Action? Starting { get; init; }

    /// <summary>
    /// Gets whether a hit past the eager refresh threshold starts a refresh with this request's factory: not when what
    /// it would load is never stored (a HEAD request's render), which would only hold the key's refresh meanwhile.
    /// </summary>
    public bool Refreshes { get; init; } = true;

    /// <summary>Gets or sets what to call when the factory will not run for this request.</summary>
    public Action? Settled { get; init; }

    /// <summary>
    /// Gets or sets <see cref="Loader.LoadsEnded"/> as it was when the read this request is answered from began. Left at
    /// 0, any load of its key (or of one sharing its stripe) that ever ended makes the request's own load read the key
    /// again before its factory runs: one read more, and never a value a read at that moment would not give.
    /// </summary>
    public long LoadsEndedAtRead { get; set; }

    /// <summary>Gets or sets the change mark of the load this request runs (<see cref="InFlightLoad{T}.ChangeMark"/>), which its write is checked against.</summary>
    public long ChangeMark { get; set; }

    /// <summary>
    /// Gets or sets the entry, as stored, that the read this request is answered from found (null for nothing), which
    /// the load's write must still find (<see cref="CacheNamespace.Expectation"/>).
    /// </summary>
    public byte[]? ReadEntry { get; set; }

    /// <summary>Gets or sets whether that read failed, so that what it found is unknown: the load is then answered, not written to a store with leases.</summary>
    public bool ReadUnknown { get; set; }

    public bool Decode(ReadOnlyMemory<byte> bytes, out T? value) => decode(bytes, out value);

    /// <summary>Runs the factory (once).</summary>
    public ValueTask<T> Factory(CancellationToken cancellationToken)
    {
        Interlocked.Exchange(ref _decided, 1);
        return factory(cancellationToken);
    }

    /// <summary>Says the factory will not run for this request, once.</summary>
    public void Settle()
    {
        if (Interlocked.Exchange(ref _decided, 1) == 0)
        {
            Settled?.Invoke();
        }
    }
}
