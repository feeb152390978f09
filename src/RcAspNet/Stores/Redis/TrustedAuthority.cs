using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace RcAspNet.Stores.Redis;

/// <summary>
/// A private certificate authority that Redis servers' TLS certificates may be issued by (<c>Rc:SslCaFile</c>), trusted
/// besides the machine's authorities on every path to Redis. StackExchange.Redis is given it with
/// <c>ConfigurationOptions.TrustIssuer</c>; the library's own connections validate with <see cref="Validation"/>, which
/// applies the same rule: a certificate the machine trusts is accepted; else only one whose sole fault is its chain,
/// and whose chain, built with the authority, runs through it. The host name is always checked, so a certificate issued
/// to another name is refused even when the authority issued it.
/// </summary>
internal static class TrustedAuthority
{
    private static readonly Oid ServerAuthentication = new("1.3.6.1.5.5.7.3.1", "Server Authentication");

    /// <summary>Loads the authority's certificate from a PEM or DER file.</summary>
    public static X509Certificate2 Load(string path) => X509CertificateLoader.LoadCertificateFromFile(path);

    /// <summary>The validation of a server certificate that trusts <paramref name="authority"/> too.</summary>
    public static RemoteCertificateValidationCallback Validation(X509Certificate2 authority) =>
        (_, certificate, _, errors) => errors == SslPolicyErrors.None
            || (errors == SslPolicyErrors.RemoteCertificateChainErrors && certificate is X509Certificate2 server && IsIssuedBy(server, authority));

    private static bool IsIssuedBy(X509Certificate2 server, X509Certificate2 authority)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;

        // The authority is not among the machine's roots: the chain may end at it, and must then contain it.
        chain.ChainPolicy.VerificationFlags = X509VerificationFlags.AllowUnknownCertificateAuthority;
        chain.ChainPolicy.ApplicationPolicy.Add(ServerAuthentication);
        chain.ChainPolicy.ExtraStore.Add(authority);
        try
        {
            var built = chain.Build(server);
            var found = false;
            foreach (var element in chain.ChainElements)
            {
                using var certificate = element.Certificate;
                found |= certificate.RawDataMemory.Span.SequenceEqual(authority.RawDataMemory.Span);
            }

            return built && found;
        }
        catch (CryptographicException)
        {
            return false;
        }
    }
}
