namespace RcAspNet.Tests.Infrastructure;

/// <summary>Waits for a condition with a generous deadline: what a loaded machine makes slow must still pass, and what never happens still fails.</summary>
public static class Eventually
{
    /// <param name="condition">What must come to hold.</param>
    /// <param name="deadline">How long to wait: 30 s unless told.</param>
    /// <param name="why">What the failure adds, read when the deadline passes: what the test saw meanwhile.</param>
    public static async Task TrueAsync(Func<Task<bool>> condition, TimeSpan? deadline = null, Func<Task<string>>? why = null)
    {
        var until = DateTime.UtcNow + (deadline ?? TimeSpan.FromSeconds(30));
        while (!await condition())
        {
            if (DateTime.UtcNow > until)
            {
                Assert.Fail($"The condition did not hold within {deadline ?? TimeSpan.FromSeconds(30)}.{(why is null ? "" : " " + await why())}");
            }

            await Task.Delay(20);
        }
    }
}
