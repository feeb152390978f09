namespace BlogApp.Tests;

/// <summary>The chaos tests time requests under load: xunit runs them with no other test of this assembly beside them.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ChaosCollection
{
    public const string Name = "Chaos";
}
