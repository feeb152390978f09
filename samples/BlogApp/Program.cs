using Microsoft.Extensions.Caching.Distributed;

var builder = WebApplication.CreateBuilder(args);
builder.Services.AddRcCache(builder.Configuration.GetSection("Rc"));

var app = builder.Build();
app.MapGet("/", async (IDistributedCache cache) =>
{
    var visits = int.Parse(await cache.GetStringAsync("visits") ?? "0", System.Globalization.CultureInfo.InvariantCulture) + 1;
    await cache.SetStringAsync("visits", visits.ToString(System.Globalization.CultureInfo.InvariantCulture));
    return $"Blog (coming soon). Visits: {visits}";
});
app.Run();

public partial class Program;
