using System.Reflection;
using StackExchange.Redis;

namespace RcAspNet.Benchmarks.Infrastructure;

/// <summary>
/// The StackExchange.Redis version this process runs on, and the one it was built for. The host passes both to the
/// benchmark processes it starts: the version it was built for as <c>/p:RedisClientVersion</c> (so that BenchmarkDotNet
/// builds them against the same client), and the version it loaded in an environment variable, which each benchmark
/// process checks against its own before measuring anything.
/// </summary>
internal static class RedisClient
{
    /// <summary>The environment variable in which the host tells each benchmark process the client version it loaded.</summary>
    public const string ExpectedVersionVariable = "RC_BENCHMARKS_REDIS_CLIENT";

    /// <summary>Gets the loaded StackExchange.Redis version (its informational version, without the commit).</summary>
    public static string Loaded { get; } = LoadedVersion();

    /// <summary>Gets the MSBuild property <c>RedisClientVersion</c> this assembly was built with.</summary>
    public static string Requested { get; } = typeof(RedisClient).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .FirstOrDefault(static a => a.Key == "RedisClientVersion")?.Value
        ?? throw new InvalidOperationException("The benchmark assembly carries no RedisClientVersion metadata (see RcAspNet.Benchmarks.csproj).");

    /// <summary>Fails a benchmark process whose client is not the one its host loaded (and shows in the summary).</summary>
    public static void CheckBenchmarkProcess()
    {
        if (Environment.GetEnvironmentVariable(ExpectedVersionVariable) is { Length: > 0 } expected && expected != Loaded)
        {
            throw new InvalidOperationException(
                $"This benchmark process runs StackExchange.Redis {Loaded}, but the host that reports it runs {expected}: build both with the same -p:RedisClientVersion.");
        }
    }

    private static string LoadedVersion()
    {
        var assembly = typeof(ConnectionMultiplexer).Assembly;
        var version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            ?? assembly.GetName().Version?.ToString()
            ?? "unknown";
        var commit = version.IndexOf('+', StringComparison.Ordinal);
        return commit < 0 ? version : version[..commit];
    }
}
