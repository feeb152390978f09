using System.Globalization;

namespace RcAspNet.Benchmarks.Loading;

/// <summary>Call durations in milliseconds, sorted, with the nearest-rank percentiles a table shows.</summary>
internal sealed class Latencies
{
    private readonly double[] _sorted;

    public Latencies(IEnumerable<double> milliseconds)
    {
        _sorted = [.. milliseconds];
        Array.Sort(_sorted);
    }

    public int Count => _sorted.Length;

    public double Mean => _sorted.Length == 0 ? double.NaN : _sorted.Average();

    public double Max => Percentile(1);

    /// <summary>How many calls took at least <paramref name="milliseconds"/>.</summary>
    public int AtLeast(double milliseconds) => _sorted.Length - LowerBound(milliseconds);

    /// <summary>The nearest-rank percentile, <paramref name="p"/> between 0 and 1.</summary>
    public double Percentile(double p) => _sorted.Length == 0 ? double.NaN : _sorted[Math.Max(0, (int)Math.Ceiling(p * _sorted.Length) - 1)];

    /// <summary>Formats a duration for a table: two decimals under 10 ms, one above.</summary>
    public static string Format(double milliseconds) =>
        milliseconds.ToString(milliseconds < 10 ? "0.00" : "0.0", CultureInfo.InvariantCulture);

    private int LowerBound(double value)
    {
        var at = Array.BinarySearch(_sorted, value);
        if (at < 0)
        {
            return ~at;
        }

        while (at > 0 && _sorted[at - 1] >= value)
        {
            at--;
        }

        return at;
    }
}
