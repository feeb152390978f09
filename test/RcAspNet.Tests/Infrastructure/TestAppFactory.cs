using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using RcAspNet.TestApp;

namespace RcAspNet.Tests.Infrastructure;

/// <summary>The [RcCached] test app, with settings of the test's choosing laid over its appsettings.</summary>
public sealed class TestAppFactory(Dictionary<string, string?> settings, TimeProvider? time = null) : WebApplicationFactory<Counters>
{
    public Counters Counters => Services.GetRequiredService<Counters>();

    public IRcCache Cache => Services.GetRequiredService<IRcCache>();

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Development");

        // A slow moment of a loaded machine must not turn a call into a timeout that reads as a miss; tests of faults set their own.
        builder.UseSetting("Rc:OperationTimeout", "00:00:05");
        foreach (var (key, value) in settings)
        {
            builder.UseSetting(key, value);
        }

        if (time is not null)
        {
            builder.ConfigureServices(s => s.AddSingleton(time));
        }
    }
}
