using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Xml.Linq;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Packaging;

/// <summary>
/// The library as a user meets it: packed into a folder feed, referenced as a package (not a project) by a web app
/// made from nothing (with OpenTelemetry's SDK and <c>AddRcInstrumentation()</c>), built, started, and asked for a
/// cached page and for <c>IDistributedCache</c>.
/// </summary>
public sealed class PackageTests(Xunit.Abstractions.ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromMinutes(4);
    private readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("rc-package-");

    public void Dispose()
    {
        try
        {
            _work.Delete(recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task PackedLibrary_InAFreshWebApp_ServesACachedRequestAndIDistributedCache()
    {
        // A version no earlier run used, so that NuGet's package cache cannot answer with an older build.
        var version = $"1.0.0-test.{DateTime.UtcNow:yyyyMMddHHmmssfff}";
        var feed = Path.Combine(_work.FullName, "feed");
        var nupkg = await PackAsync(version, feed);
        CheckMetadata(nupkg, version);

        var app = Directory.CreateDirectory(Path.Combine(_work.FullName, "app")).FullName;
        await File.WriteAllTextAsync(Path.Combine(app, "nuget.config"), $"""
            <configuration>
              <packageSources>
                <add key="local" value="{feed}" />
              </packageSources>
            </configuration>
            """);
        await File.WriteAllTextAsync(Path.Combine(app, "app.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk.Web">
              <PropertyGroup>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
                <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
                <NoWarn>NU1603</NoWarn>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="RcAspNet" Version="{version}" />
                <PackageReference Include="OpenTelemetry.Extensions.Hosting" Version="1.21.0" />
              </ItemGroup>
            </Project>
            """);
        await File.WriteAllTextAsync(Path.Combine(app, "Program.cs"), """
            using Microsoft.Extensions.Caching.Distributed;
            using OpenTelemetry.Metrics;
            using OpenTelemetry.Trace;
            using RcAspNet;

            var builder = WebApplication.CreateBuilder(args);
            builder.Services.AddRcCache(builder.Configuration.GetSection("Rc"));
            builder.Services.AddOpenTelemetry().WithTracing(t => t.AddRcInstrumentation()).WithMetrics(m => m.AddRcInstrumentation());
            var app = builder.Build();
            app.UseRcCache();

            var runs = 0;
            app.MapGet("/hello/{name}", [RcCached(ExpirationSeconds = 60)] (string name) => $"Hello {name} #{Interlocked.Increment(ref runs)}");
            app.MapGet("/distributed", async (IDistributedCache cache) =>
            {
                await cache.SetStringAsync("greeting", "stored through IDistributedCache");
                return await cache.GetStringAsync("greeting");
            });
            app.Run();
            """);
        await RunAsync("dotnet", ["build", "-c", "Release", "-nologo"], app);

        var port = RedisServer.FreePort();
        using var server = Start("dotnet", [Path.Combine(app, "bin", "Release", "net10.0", "app.dll"), "--urls", $"http://127.0.0.1:{port}"], app);
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            await WaitUntilUpAsync(client, server);
            var miss = await client.GetAsync("/hello/ann");
            var hit = await client.GetAsync("/hello/ann");
            Assert.Equal(HttpStatusCode.OK, miss.StatusCode);
            Assert.Equal("MISS", miss.Headers.GetValues("X-Cache").Single());
            Assert.Equal("HIT", hit.Headers.GetValues("X-Cache").Single());
            Assert.Equal("Hello ann #1", await hit.Content.ReadAsStringAsync());
            Assert.Equal("stored through IDistributedCache", await client.GetStringAsync("/distributed"));
        }
        finally
        {
            server.Kill(entireProcessTree: true);
            await server.WaitForExitAsync();
        }
    }

    /// <summary>Packs a copy of the library, so that the repository's own build outputs stay as they are.</summary>
    private async Task<string> PackAsync(string version, string feed)
    {
        var repository = RepositoryRoot();
        var copy = Path.Combine(_work.FullName, "repo");
        foreach (var file in new[] { "Directory.Build.props", "Directory.Packages.props", "README.md" })
        {
            Directory.CreateDirectory(copy);
            File.Copy(Path.Combine(repository, file), Path.Combine(copy, file));
        }

        var source = Path.Combine(repository, "src", "RcAspNet");
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(source, file);
            if (relative.Split(Path.DirectorySeparatorChar)[0] is "bin" or "obj")
            {
                continue;
            }

            var target = Path.Combine(copy, "src", "RcAspNet", relative);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }

        // No git repository in the copy: Source Link has nothing to describe.
        await RunAsync("dotnet", ["pack", "src/RcAspNet/RcAspNet.csproj", "-c", "Release", "-o", feed, $"-p:Version={version}", "-p:EnableSourceLink=false", "-p:PublishRepositoryUrl=false", "-nologo"], copy);
        return Path.Combine(feed, $"RcAspNet.{version}.nupkg");
    }

    private static void CheckMetadata(string nupkg, string version)
    {
        using var package = ZipFile.OpenRead(nupkg);
        var names = package.Entries.Select(static e => e.FullName).ToArray();
        Assert.Contains("README.md", names);
        Assert.Contains("lib/net10.0/RcAspNet.dll", names);
        Assert.Contains("lib/net10.0/RcAspNet.xml", names);
        Assert.True(File.Exists(Path.ChangeExtension(nupkg, ".snupkg")), "a symbols package beside the package");

        using var nuspec = package.GetEntry("RcAspNet.nuspec")!.Open();
        var metadata = XDocument.Load(nuspec).Root!.Elements().Single(static e => e.Name.LocalName == "metadata");
        string? Value(string name) => metadata.Elements().SingleOrDefault(e => e.Name.LocalName == name)?.Value;
        Assert.Equal(version, Value("version"));
        Assert.Equal("MIT", Value("license"));
        Assert.Equal("README.md", Value("readme"));
        Assert.False(string.IsNullOrWhiteSpace(Value("description")));

        // What every app that takes the package takes with it: the Redis client, the hashes (rc's CRC-32 router, the
        // entity tags of [RcCached]) and OpenTelemetry's API package for AddRcInstrumentation() on its builders; the
        // API, not the SDK, which stays the app's choice. The API at the oldest version with the fix for its
        // propagation-header advisory, 1.15.3, which on net10.0 brings nothing else; 1.21.0 would bring
        // System.Diagnostics.DiagnosticSource 11.0.0 into every app, in place of the shared framework's.
        var dependencies = metadata.Descendants().Where(static e => e.Name.LocalName == "dependency")
            .ToDictionary(static e => e.Attribute("id")!.Value, static e => e.Attribute("version")!.Value);
        Assert.Equal(["OpenTelemetry.Api", "StackExchange.Redis", "System.IO.Hashing"], dependencies.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("1.15.3", dependencies["OpenTelemetry.Api"]);
    }

    private async Task RunAsync(string file, string[] arguments, string directory)
    {
        using var process = Start(file, arguments, directory);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(Deadline);
        await process.WaitForExitAsync(cancel.Token);
        output.WriteLine($"$ {file} {string.Join(' ', arguments)}: exit {process.ExitCode.ToString(CultureInfo.InvariantCulture)}");
        Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', arguments)} failed:\n{await stdout}\n{await stderr}");
    }

    private static Process Start(string file, string[] arguments, string directory)
    {
        var info = new ProcessStartInfo(file)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment = { ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1", ["DOTNET_NOLOGO"] = "1" },
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        return Process.Start(info)!;
    }

    private static async Task WaitUntilUpAsync(HttpClient client, Process server)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                (await client.GetAsync("/distributed")).EnsureSuccessStatusCode();
                return;
            }
            catch (HttpRequestException) when (deadline.Elapsed < TimeSpan.FromMinutes(1) && !server.HasExited)
            {
                await Task.Delay(100);
            }
        }
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "RcAspNet.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("The test runs from outside the repository: RcAspNet.sln was not found above " + AppContext.BaseDirectory);
    }
}
