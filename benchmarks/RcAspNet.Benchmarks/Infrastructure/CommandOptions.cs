using System.Globalization;

namespace RcAspNet.Benchmarks.Infrastructure;

/// <summary>A loop command's <c>--name value</c> pairs, checked against the names it knows.</summary>
internal sealed class CommandOptions
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);

    private CommandOptions()
    {
    }

    /// <summary>The pairs of <paramref name="args"/>, or null (with <paramref name="usage"/> on stderr) when one is not in <paramref name="names"/>.</summary>
    public static CommandOptions? Parse(string[] args, string usage, params string[] names)
    {
        var options = new CommandOptions();
        for (var i = 0; i < args.Length; i += 2)
        {
            if (!names.Contains(args[i]) || i + 1 == args.Length)
            {
                Console.Error.WriteLine($"Unknown argument {args[i]}: {usage}");
                return null;
            }

            options._values[args[i]] = args[i + 1];
        }

        return options;
    }

    public double Double(string name, double fallback) => _values.TryGetValue(name, out var v) ? double.Parse(v, CultureInfo.InvariantCulture) : fallback;

    public int Int(string name, int fallback) => _values.TryGetValue(name, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

    public bool Bool(string name, bool fallback) => _values.TryGetValue(name, out var v) ? bool.Parse(v) : fallback;

    /// <summary>A comma-separated list, or null when not given.</summary>
    public string[]? List(string name) => _values.TryGetValue(name, out var v) ? v.Split(',') : null;

    /// <summary>The median of a row's rounds.</summary>
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>
    /// Each round's value of a row against the same round's value of the first row, as the median over rounds with the
    /// lowest and highest round's ratio: "1.11 (1.05–1.16)". Rounds move together with the machine, so this is steadier
    /// than a ratio of two medians; a target inside the range is within this run's noise: the median says which side
    /// of it this run fell on.
    /// </summary>
    public static string SameRoundRatioSpread<T>(IReadOnlyList<T> runs, IReadOnlyList<T> first, Func<T, double> value)
    {
        var ratios = runs.Select((run, round) => value(run) / value(first[round])).ToArray();
        return string.Create(CultureInfo.InvariantCulture, $"{Median(ratios):N2} ({ratios.Min():N2}–{ratios.Max():N2})");
    }
}
