using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using StackExchange.Redis;

namespace RcAspNet.Stores.Redis;

/// <summary>How to reach one server: what <see cref="RespConnection.Open"/> needs beyond the endpoint.</summary>
/// <param name="User">The ACL user to authenticate as, with <paramref name="Password"/>; null for the default user.</param>
/// <param name="Password">The password; null to send no AUTH.</param>
/// <param name="Database">The database to select.</param>
/// <param name="Ssl">Whether to speak TLS.</param>
/// <param name="SslHost">The name the server's certificate must be issued for; null for the endpoint's host.</param>
/// <param name="SslProtocols">The TLS versions allowed; none for the system's choice.</param>
/// <param name="CertificateValidation">How the server's certificate is validated; null for the machine's trusted authorities alone.</param>
internal sealed record RespSettings(string? User, string? Password, int Database, bool Ssl, string? SslHost, SslProtocols SslProtocols, RemoteCertificateValidationCallback? CertificateValidation = null)
{
    /// <summary>
    /// The settings of the client configuration that StackExchange.Redis connects with, so that the library's own
    /// connections authenticate and validate TLS exactly as it does, and trust <paramref name="authorityFile"/> as
    /// <see cref="ConfigurationOptions.TrustIssuer(string)"/> makes it trust it (see <see cref="TrustedAuthority"/>).
    /// </summary>
    public static RespSettings From(ConfigurationOptions configuration, string? authorityFile) => new(
        NullIfBlank(configuration.User),
        NullIfBlank(configuration.Password),
        configuration.DefaultDatabase ?? 0,
        configuration.Ssl,
        NullIfBlank(configuration.SslHost),
        configuration.SslProtocols ?? SslProtocols.None,
        string.IsNullOrEmpty(authorityFile) ? null : TrustedAuthority.Validation(TrustedAuthority.Load(authorityFile)));

    /// <summary>Gets how a host name is looked up: the system's resolver (bounded by the connect's deadline, <see cref="HostResolver"/>); tests give one that never answers.</summary>
    public Func<string, IPAddress[]> Lookup { get; init; } = Dns.GetHostAddresses;

    // StackExchange.Redis sends no user or password that is blank.
    private static string? NullIfBlank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;

    /// <summary>Keeps the password out of every rendering of the settings (a record prints its members).</summary>
    public override string ToString() => $"{nameof(RespSettings)} {{ User = {User}, Database = {Database}, Ssl = {Ssl}, SslHost = {SslHost} }}";
}
