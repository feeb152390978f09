using System.Globalization;

namespace RcAspNet.Tests.Infrastructure;

/// <summary>
/// What a test server requires of its clients, as managed Redis does: a password (<c>requirepass</c>), or an ACL user
/// in place of the default one (which is turned off), and TLS with a certificate of a private authority. The harness
/// itself connects with these, so it can still look inside the server.
/// </summary>
/// <param name="User">The ACL user; null for the default user with <c>requirepass</c>.</param>
/// <param name="Password">The password; null for none.</param>
/// <param name="Tls">The certificates the server serves TLS with; null for plain TCP.</param>
public sealed record RedisSecurity(string? User, string? Password, TestCertificates? Tls = null)
{
    /// <summary>The arguments of redis-server that listen on <paramref name="port"/> and require what this says.</summary>
    public IEnumerable<string> ServerArgs(int port)
    {
        var portText = port.ToString(CultureInfo.InvariantCulture);
        if (Tls is null)
        {
            yield return "--port";
            yield return portText;
        }
        else
        {
            foreach (var arg in (string[])[
                "--port", "0", "--tls-port", portText, "--tls-cert-file", Tls.CertificateFile, "--tls-key-file", Tls.KeyFile,
                "--tls-ca-cert-file", Tls.AuthorityFile, "--tls-auth-clients", "no"])
            {
                yield return arg;
            }
        }

        if (Password is null)
        {
            yield break;
        }

        // A replica authenticates to its primary as any client does.
        string[] auth = User is null
            ? ["--requirepass", Password, "--masterauth", Password]
            : ["--user", "default", "off", "--user", User, "on", $">{Password}", "~*", "&*", "+@all", "--masteruser", User, "--masterauth", Password];
        foreach (var arg in auth)
        {
            yield return arg;
        }
    }

    /// <summary>The arguments that make redis-cli connect as this says.</summary>
    public IEnumerable<string> CliArgs()
    {
        if (User is not null)
        {
            yield return "--user";
            yield return User;
        }

        if (Password is not null)
        {
            yield return "-a";
            yield return Password;
            yield return "--no-auth-warning";
        }

        if (Tls is not null)
        {
            yield return "--tls";
            yield return "--cacert";
            yield return Tls.AuthorityFile;
        }
    }
}
