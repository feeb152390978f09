using System.Globalization;
using Microsoft.Diagnostics.Tracing;

// dotnet run -c Release --project benchmarks/profile/AllocationTicks -- <trace.nettrace> <operations> [top]
// The runtime samples allocations (one GCAllocationTick per about 100 KB a thread allocates, naming the type that
// crossed the mark); summed by type and divided by the operations the trace covered, they say where the bytes of one
// operation go, in proportion.
if (args.Length < 2)
{
    Console.Error.WriteLine("usage: AllocationTicks <trace.nettrace> <operations> [top]");
    return 2;
}

var operations = double.Parse(args[1], CultureInfo.InvariantCulture);
var top = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 30;
var bytes = new Dictionary<string, long>(StringComparer.Ordinal);
using (var source = new EventPipeEventSource(args[0]))
{
    source.Clr.GCAllocationTick += e => bytes[e.TypeName] = bytes.GetValueOrDefault(e.TypeName) + e.AllocationAmount64;
    source.Process();
}

foreach (var (type, sum) in bytes.OrderByDescending(static t => t.Value).Take(top))
{
    Console.WriteLine($"{sum / operations,9:N1} B/op  {type}");
}

Console.WriteLine($"{bytes.Values.Sum() / operations,9:N0} B/op in all");
return 0;
