using System.Text.Json;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Batching;

/// <summary>The batch is the request's own: two requests in a row through the test app.</summary>
public sealed class BatchRequestTests : IAsyncLifetime
{
    private readonly TestAppFactory _app = new(new Dictionary<string, string?> { ["Rc:Namespace"] = SharedRedis.UniqueNamespace() });

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Fact]
    public async Task TwoRequestsInARow_EachSeesOnlyItsOwnQueue()
    {
        using var client = _app.CreateClient();
        var first = JsonDocument.Parse(await client.GetStringAsync("/batch/3")).RootElement;
        var second = JsonDocument.Parse(await client.GetStringAsync("/batch/2")).RootElement;
        Assert.NotEqual(first.GetProperty("batch").GetInt32(), second.GetProperty("batch").GetInt32());
        Assert.Equal([0, 10, 20], first.GetProperty("values").EnumerateArray().Select(static v => v.GetInt32()));
        Assert.Equal([0, 10], second.GetProperty("values").EnumerateArray().Select(static v => v.GetInt32()));
    }

    [Fact]
    public async Task LookupsLeftQueued_FaultWhenTheRequestEnds_AndDoNotReachTheNextRequest()
    {
        using var client = _app.CreateClient();
        await client.GetStringAsync("/batch/4?flush=false");
        var next = JsonDocument.Parse(await client.GetStringAsync("/batch/1")).RootElement;
        Assert.Equal([0], next.GetProperty("values").EnumerateArray().Select(static v => v.GetInt32()));
        Assert.Equal(4, _app.Counters.Abandoned.Count);
        Assert.All(_app.Counters.Abandoned, static read => Assert.Contains("request ended", Assert.Throws<InvalidOperationException>(read).Message, StringComparison.Ordinal));
    }
}
