using System.Diagnostics.Tracing;

namespace RcAspNet.Benchmarks.Diagnosis;

/// <summary>
/// The runtime's allocation samples (one event per about 100 KB a thread allocates, naming the type that crossed the
/// mark), summed by type: where the bytes of an operation go, in proportion, without an external profiler.
/// </summary>
internal sealed class AllocationSampler : EventListener
{
    private const EventKeywords GcKeyword = (EventKeywords)0x1;
    private readonly Dictionary<string, long> _bytes = [];
    private readonly Lock _gate = new();

    protected override void OnEventSourceCreated(EventSource source)
    {
        if (source.Name == "Microsoft-Windows-DotNETRuntime")
        {
            EnableEvents(source, EventLevel.Verbose, GcKeyword);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        if (e.EventName is not { } name || !name.StartsWith("GCAllocationTick", StringComparison.Ordinal) || e.PayloadNames is null)
        {
            return;
        }

        var type = e.Payload![e.PayloadNames.IndexOf("TypeName")] as string ?? "?";
        var amount = e.PayloadNames.IndexOf("AllocationAmount64") is var at and >= 0 ? Convert.ToInt64(e.Payload[at], System.Globalization.CultureInfo.InvariantCulture) : 0;
        lock (_gate)
        {
            _bytes[type] = _bytes.GetValueOrDefault(type) + amount;
        }
    }

    /// <summary>Prints the types that took the most sampled bytes, as bytes per operation.</summary>
    public void Report(double operations)
    {
        lock (_gate)
        {
            foreach (var (type, bytes) in _bytes.OrderByDescending(static t => t.Value).Take(12))
            {
                Console.WriteLine($"    {bytes / operations,8:N1} B/op  {type}");
            }
        }
    }
}
