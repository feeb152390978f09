namespace RcAspNet.Caching;

/// <summary>What a load answered, and where the answer came from.</summary>
internal readonly record struct Loaded<T>(T Value, LoadOutcome Outcome);
