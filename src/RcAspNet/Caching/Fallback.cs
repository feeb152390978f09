namespace RcAspNet.Caching;

/// <summary>A value kept at hand while a load runs: the fail-safe fallback, or a value a fleet waiter found.</summary>
internal sealed record Fallback<T>(T Value);
