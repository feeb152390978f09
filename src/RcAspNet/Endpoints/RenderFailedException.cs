namespace RcAspNet.Endpoints;

/// <summary>A handler answered with a server error: a failure of the factory, which a fail-safe fallback may answer instead.</summary>
internal sealed class RenderFailedException(CachedResponse answer) : Exception($"The handler answered {answer.StatusCode}.")
{
    public CachedResponse Answer { get; } = answer;
}
