namespace RcAspNet;

/// <summary>One Redis server of a sharded store, as in rc's <c>CacheCluster</c> hosts.</summary>
public sealed class RcShardOptions
{
    /// <summary>Gets or sets the host name or address.</summary>
    /// <value>The default is <c>localhost</c>, as in rc.</value>
    public string Host { get; set; } = "localhost";

    /// <summary>Gets or sets the TCP port.</summary>
    /// <value>The default is 6379.</value>
    public int Port { get; set; } = 6379;

    /// <summary>Gets or sets the database number.</summary>
    /// <value>The default is 0.</value>
    public int Db { get; set; }

    /// <summary>
    /// Gets or sets the ACL user to authenticate as (Redis 6 and newer), with <see cref="Password"/>; none
    /// authenticates as the default user, with <see cref="Password"/> alone when it is set (<c>requirepass</c>).
    /// </summary>
    /// <value>The default is none.</value>
    public string? User { get; set; }

    /// <summary>Gets or sets the password, if the server requires one: the default user's, or <see cref="User"/>'s.</summary>
    /// <value>The default is none.</value>
    public string? Password { get; set; }

    /// <summary>Gets or sets whether the connection uses TLS.</summary>
    /// <value>The default is <see langword="false"/>.</value>
    public bool Ssl { get; set; }

    /// <summary>
    /// Gets or sets the host name the server's TLS certificate must be issued for, when it is not <see cref="Host"/>
    /// (a server reached by its address, or through a name its certificate does not carry). Only with <see cref="Ssl"/>.
    /// </summary>
    /// <value>The default is none: the certificate must be issued for <see cref="Host"/>.</value>
    public string? SslHost { get; set; }

    /// <summary>
    /// Gets or sets rc's <c>unix_socket_path</c>: when set, the shard is reached through this unix socket instead of
    /// <see cref="Host"/> and <see cref="Port"/>, as redis-py does. It also takes part in the ketama ring identity, so
    /// a .NET client routes exactly as a Python client configured with a socket path does.
    /// </summary>
    /// <value>The default is none.</value>
    public string? UnixSocketPath { get; set; }
}
