using System.Runtime.CompilerServices;
using RcAspNet.Stores;
using RcAspNet.Stores.Redis;

namespace RcAspNet.Tests.Stores;

/// <summary>
/// The removals kept for one server, on their own: a tag invalidated again is kept once only while neither invalidation
/// was ever sent. One sent and not acknowledged may have been applied, and sending it again moves nothing registered
/// since (<c>RemovalDeliveryTests.ATagInvalidatedAgain_WhileAnInvalidationTheServerAppliedButNeverAcknowledgedIsKept_LosesNeitherInvalidation</c>
/// shows what that loses on a real server).
/// </summary>
public sealed class RemovalLogTests
{
    private static readonly TagKeys Post = new("ns:{rc-tag:post}:version", "ns:{rc-tag:post}:keys", "ns:{rc-tag:post}");

    [Fact]
    public void ATagInvalidatedAgainBeforeEitherInvalidationWasSent_IsDeliveredOnce()
    {
        var log = new RemovalLog(limit: 100, ["ns:"], new StrongBox<int>());
        var first = Removal.OfTag(Post);
        log.Add(first, unsent: true);
        log.Add(Removal.OfTag(Post), unsent: true);
        Assert.Equal(1, log.Size);
        Assert.Equal([first], log.Next(100));
    }

    [Fact]
    public void ATagInvalidatedAgainAfterAnInvalidationThatWasSent_IsDeliveredAfterIt_OnItsOwn()
    {
        var log = new RemovalLog(limit: 100, ["ns:"], new StrongBox<int>());
        var sent = Removal.OfTag(Post);
        var second = Removal.OfTag(Post);
        log.Add(sent);
        log.Add(second, unsent: true);
        log.Add(Removal.OfTag(Post), unsent: true); // the third, never sent either, is delivered by the second's delivery
        Assert.Equal(2, log.Size);
        Assert.Equal([sent], log.Next(100));
        log.Delivered();
        Assert.Equal([second], log.Next(100));
    }

    [Fact]
    public void AnInvalidationSentByADeliveryThatFailed_TakesNoLaterOne()
    {
        // Kept unsent, then sent by a recovery that failed: the server may have applied it.
        var log = new RemovalLog(limit: 100, ["ns:"], new StrongBox<int>());
        var first = Removal.OfTag(Post);
        log.Add(first, unsent: true);
        Assert.Equal([first], log.Next(100));
        log.Abandon();
        log.Add(Removal.OfTag(Post), unsent: true);
        Assert.Equal(2, log.Size);
    }

    [Fact]
    public void ATagInvalidatedAgainInAnInvalidationThatWasSent_IsNotFoldedIntoOneNeverSent()
    {
        // The one sent may have been applied: its drain set holds members only its own delivery deletes.
        var log = new RemovalLog(limit: 100, ["ns:"], new StrongBox<int>());
        log.Add(Removal.OfTag(Post), unsent: true);
        log.Add(Removal.OfTag(Post));
        Assert.Equal(2, log.Size);
    }
}
