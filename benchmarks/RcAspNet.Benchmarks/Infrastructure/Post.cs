namespace RcAspNet.Benchmarks.Infrastructure;

/// <summary>The typed value of the two-level groups: a post whose JSON is about 1 KiB, as a cached post view is.</summary>
public sealed record Post(int Id, string Title, string Body, long CreatedTs)
{
    /// <summary>Gets the one post every contender stores and reads.</summary>
    public static Post Sample { get; } = new(
        1,
        "Caching in ASP.NET Core",
        string.Concat(Enumerable.Repeat("The quick brown fox jumps over the lazy dog. ", 22)),
        1_700_000_000);
}
