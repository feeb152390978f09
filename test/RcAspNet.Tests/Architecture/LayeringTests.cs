using System.Text.RegularExpressions;

namespace RcAspNet.Tests.Architecture;

/// <summary>
/// The shape docs/architecture.md describes, checked on the library's source: one type per file, and folders that
/// depend on each other one way only, each on the layers below it (request, then endpoint policy or batch, then typed
/// cache, then namespace and store, then Redis).
/// </summary>
public sealed partial class LayeringTests
{
    /// <summary>Which folders each folder may use; the root (entry points) may use them all.</summary>
    private static readonly Dictionary<string, string[]> Allowed = new(StringComparer.Ordinal)
    {
        ["Diagnostics"] = [],
        ["Routing"] = [],
        ["Configuration"] = ["Routing"],
        ["Stores"] = ["Configuration", "Routing", "Diagnostics"],
        ["Caching"] = ["Stores", "Configuration", "Diagnostics"],
        ["Batching"] = ["Caching", "Configuration", "Diagnostics"],
        ["Endpoints"] = ["Caching", "Configuration", "Diagnostics"],
    };

    private static readonly string Source = Path.Combine(RepositoryRoot(), "src", "RcAspNet");

    private static readonly (string Folder, string File, string Code)[] Files = Directory
        .EnumerateFiles(Source, "*.cs", SearchOption.AllDirectories)
        .Where(static f => Path.GetRelativePath(Source, f).Split(Path.DirectorySeparatorChar)[0] is not ("bin" or "obj"))
        .Select(static f => (Folder(f), Path.GetRelativePath(Source, f), Code(File.ReadAllText(f))))
        .ToArray();

    [Fact]
    public void EveryFolder_IsOneTheArchitectureNames() =>
        Assert.All(Files.Select(static f => f.Folder).Distinct(), static folder => Assert.True(folder == "(root)" || Allowed.ContainsKey(folder), $"{folder} is not in docs/architecture.md"));

    [Fact]
    public void EveryFile_DeclaresOneTopLevelType()
    {
        foreach (var (_, file, code) in Files)
        {
            var types = TopLevelType().Matches(code).Select(static m => m.Groups["name"].Value).ToArray();
            Assert.True(types.Length == 1, $"{file} declares {types.Length} types: {string.Join(", ", types)}");
        }
    }

    [Fact]
    public void Folders_UseOnlyTheLayersBelowThem()
    {
        var owner = Files.SelectMany(static f => TopLevelType().Matches(f.Code).Select(m => (Type: m.Groups["name"].Value, f.Folder)))
            .GroupBy(static t => t.Type)
            .ToDictionary(static g => g.Key, static g => g.First().Folder, StringComparer.Ordinal);
        var wrong = new List<string>();
        foreach (var (folder, file, code) in Files.Where(static f => f.Folder != "(root)"))
        {
            foreach (var (type, other) in owner)
            {
                if (other != folder && !Allowed[folder].Contains(other) && Regex.IsMatch(code, $@"\b{type}\b"))
                {
                    wrong.Add($"{file} ({folder}) uses {type} ({other})");
                }
            }
        }

        Assert.True(wrong.Count == 0, string.Join(Environment.NewLine, wrong));
    }

    private static string Folder(string file) =>
        Path.GetRelativePath(Source, file).Split(Path.DirectorySeparatorChar) is [var first, _, ..] ? first : "(root)";

    /// <summary>The code without comments and string literals, so that prose and messages do not count as uses.</summary>
    private static string Code(string text) => StringLiteral().Replace(Comment().Replace(text, ""), "\"\"");

    [GeneratedRegex(@"^(?:public|internal)(?:\s+(?:sealed|static|abstract|readonly|partial))*\s+(?:class|interface|enum|struct|record(?:\s+struct)?|delegate\s+\S+)\s+(?<name>\w+)", RegexOptions.Multiline)]
    private static partial Regex TopLevelType();

    [GeneratedRegex(@"//[^\n]*|/\*.*?\*/", RegexOptions.Singleline)]
    private static partial Regex Comment();

    [GeneratedRegex(@"\$?@?""(?:[^""\\\n]|\\.)*""")]
    private static partial Regex StringLiteral();

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "RcAspNet.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("RcAspNet.sln was not found above " + AppContext.BaseDirectory);
    }
}
