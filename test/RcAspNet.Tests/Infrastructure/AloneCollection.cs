namespace RcAspNet.Tests.Infrastructure;

/// <summary>
/// Tests that time calls in milliseconds run in this collection, which xunit runs with no other test beside it: on a
/// 2-core machine a parallel test class would otherwise take the CPU the measured process needs.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AloneCollection
{
    public const string Name = "Alone";
}
