namespace RcAspNet.Stores.Redis;

/// <summary>
/// A clear that began before the store knew it reaches a cluster went to the stand-in node, which would scan one
/// primary; once the cluster is known it is run on every primary that owns slots instead (or, should none be known yet,
/// kept for the stand-in, which moves it to them). Not a failure: <see cref="RedisCalls"/> lets it through uncounted.
/// </summary>
internal sealed class ClusterFoundException() : Exception("The store found a cluster after the clear began: it goes to every primary.");
