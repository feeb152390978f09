namespace RcAspNet.Stores.Redis;

/// <summary>A duration in a clock's timestamp units, to compare with its timestamps.</summary>
internal static class TimestampSpan
{
    /// <summary>
    /// <paramref name="span"/> in <paramref name="time"/>'s timestamp units, at most a quarter of a long's range, so that
    /// a timestamp minus it never overflows (a window may be configured as long as <see cref="TimeSpan.MaxValue"/>).
    /// </summary>
    public static long Of(TimeSpan span, TimeProvider time) => (long)Math.Min(span.TotalSeconds * time.TimestampFrequency, long.MaxValue / 4);
}
