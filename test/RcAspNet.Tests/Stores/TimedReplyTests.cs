using RcAspNet.Stores.Redis;

namespace RcAspNet.Tests.Stores;

/// <summary>
/// The bounded wait every asynchronous command goes through (<see cref="TimedReply{T}"/>), on its own: whichever of the
/// reply, the deadline and the caller's token comes first decides, and a reused instance never carries one call's
/// outcome into another's. Its use against real servers (frozen, killed) is in the reliability tests.
/// </summary>
public sealed class TimedReplyTests
{
    [Fact]
    public async Task TheReply_WhenItComesFirst_IsTheResult()
    {
        using var deadline = new CancellationTokenSource();
        var reply = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var wait = TimedReply<int>.WaitAsync(reply.Task, deadline.Token, CancellationToken.None);
        reply.SetResult(7);
        Assert.Equal(7, await wait);
    }

    [Fact]
    public async Task AFailedReply_ThrowsItsOwnException()
    {
        using var deadline = new CancellationTokenSource();
        var reply = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var wait = TimedReply<int>.WaitAsync(reply.Task, deadline.Token, CancellationToken.None);
        reply.SetException(new IOException("the connection broke"));
        Assert.Equal("the connection broke", (await Assert.ThrowsAsync<IOException>(async () => await wait)).Message);
    }

    [Fact]
    public async Task TheDeadline_WhenItComesFirst_Throws_AndTheLateReplyTouchesNoLaterCall()
    {
        using var deadline = new CancellationTokenSource();
        var late = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var wait = TimedReply<int>.WaitAsync(late.Task, deadline.Token, CancellationToken.None);
        await deadline.CancelAsync();
        var thrown = await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await wait);
        Assert.Equal(deadline.Token, thrown.CancellationToken);

        // Calls after it, on this thread and others, each get their own reply, before and after the late one arrives.
        using var next = new CancellationTokenSource();
        for (var round = 0; round < 2; round++)
        {
            var results = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => Task.Run(async () =>
            {
                var reply = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
                var waiting = TimedReply<int>.WaitAsync(reply.Task, next.Token, CancellationToken.None);
                reply.SetResult(i);
                return await waiting;
            })));
            Assert.Equal(Enumerable.Range(0, 200), results);
            late.TrySetResult(-1);
        }
    }

    [Fact]
    public async Task TheCallersToken_WhenItComesFirst_ThrowsWithIt()
    {
        using var deadline = new CancellationTokenSource();
        using var caller = new CancellationTokenSource();
        var reply = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var wait = TimedReply<int>.WaitAsync(reply.Task, deadline.Token, caller.Token);
        await caller.CancelAsync();
        Assert.Equal(caller.Token, (await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await wait)).CancellationToken);
        reply.SetResult(1);
    }

    [Fact]
    public async Task ADeadlineAlreadyPassed_ThrowsAtOnce()
    {
        using var deadline = new CancellationTokenSource();
        await deadline.CancelAsync();
        var reply = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var wait = TimedReply<int>.WaitAsync(reply.Task, deadline.Token, CancellationToken.None);
        Assert.True(wait.IsCompleted);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await wait);
    }

    [Fact]
    public async Task ARepliedCall_LeavesNoRegistrationOnItsTokens()
    {
        using var deadline = new CancellationTokenSource();
        using var caller = new CancellationTokenSource();
        for (var i = 0; i < 100; i++)
        {
            var reply = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
            var wait = TimedReply<int>.WaitAsync(reply.Task, deadline.Token, caller.Token);
            reply.SetResult(i);
            Assert.Equal(i, await wait);
        }

        // Were any registration left, cancelling would run it against an instance now serving another call.
        await deadline.CancelAsync();
        await caller.CancelAsync();
        var last = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var fresh = new CancellationTokenSource();
        var waiting = TimedReply<int>.WaitAsync(last.Task, fresh.Token, CancellationToken.None);
        last.SetResult(42);
        Assert.Equal(42, await waiting);
    }
}
