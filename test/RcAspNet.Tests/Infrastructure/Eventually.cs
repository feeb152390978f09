namespace RcAspNet.Tests.Infrastructure;

/// <summary>Waits for a condition with a generous deadline: what a loaded machine makes slow must still pass, and what never happens still fails.</summary>
public static class Eventually
{
    public static async Task TrueAsync(Func<Task<bool>> condition, TimeSpan? deadline = null)
    {
        var until = DateTime.UtcNow + (deadline ?? TimeSpan.FromSeconds(30));
        while (!await condition())
        {
            if (DateTime.UtcNow > until)
            {
                Assert.Fail($"The condition did not hold within {deadline ?? TimeSpan.FromSeconds(30)}.");
            }

            await Task.Delay(20);
        }
    }
}
