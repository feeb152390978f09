namespace RcAspNet.Tests.Infrastructure;

/// <summary>
/// One measurement of a store's errors, timeouts or circuit changes, with the <see cref="System.Diagnostics.Stopwatch"/>
/// timestamp at which it was reported: <paramref name="Shard"/> is the store's shard and, for a cluster, the primary's endpoint.
/// </summary>
public sealed record StoreEvent(long At, string Instrument, string Shard, string? Operation, string? ErrorType, string? CircuitState);
