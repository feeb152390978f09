namespace RcAspNet.Caching;

/// <summary>
/// A factory gave up because the request it rendered for ended (its visitor left): no failure of its source, so
/// fail-safe does not throttle the key for it (a timeout, an HTTP client's included, does).
/// </summary>
internal sealed class RequestEndedException(Exception inner, CancellationToken requestAborted)
    : OperationCanceledException("The request the factory rendered for ended.", inner, requestAborted);
