using System.Diagnostics;
using System.Security.Cryptography.X509Certificates;

namespace RcAspNet.Tests.Infrastructure;

/// <summary>
/// A private certificate authority, made with openssl in a directory of its own, and a server certificate it issued for
/// <see cref="HostName"/> only (not for the address 127.0.0.1, so that a client that connects to the address must be
/// told the host name to validate against). No machine trusts the authority: a client trusts it only when told to.
/// </summary>
public sealed class TestCertificates : IDisposable
{
    private TestCertificates(string directory, string hostName)
    {
        Directory = directory;
        HostName = hostName;
    }

    public string Directory { get; }

    /// <summary>Gets the name the server certificate is issued for (its subject alternative name).</summary>
    public string HostName { get; }

    /// <summary>Gets the authority's certificate, PEM.</summary>
    public string AuthorityFile => Path.Combine(Directory, "ca.crt");

    /// <summary>Gets the server's certificate, PEM.</summary>
    public string CertificateFile => Path.Combine(Directory, "server.crt");

    /// <summary>Gets the server's private key, PEM.</summary>
    public string KeyFile => Path.Combine(Directory, "server.key");

    /// <summary>Makes a new authority and a server certificate for <paramref name="hostName"/>, valid for two days.</summary>
    public static async Task<TestCertificates> CreateAsync(string hostName = "localhost")
    {
        var certificates = new TestCertificates(System.IO.Directory.CreateTempSubdirectory("rc-tls-").FullName, hostName);
        try
        {
            await File.WriteAllTextAsync(
                Path.Combine(certificates.Directory, "server.ext"),
                $"subjectAltName=DNS:{hostName}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n");
            await certificates.OpenSslAsync("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=RcAspNet test CA");
            await certificates.OpenSslAsync("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", $"/CN={hostName}");
            await certificates.OpenSslAsync("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "server.ext");
            return certificates;
        }
        catch
        {
            certificates.Dispose();
            throw;
        }
    }

    /// <summary>Loads the authority's certificate.</summary>
    public X509Certificate2 LoadAuthority() => X509CertificateLoader.LoadCertificateFromFile(AuthorityFile);

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private async Task OpenSslAsync(params string[] args)
    {
        var info = new ProcessStartInfo("openssl") { WorkingDirectory = Directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        Process process;
        try
        {
            process = Process.Start(info)!;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException("openssl is not installed: the TLS tests make their certificates with it (apt-get install -y openssl; .ci/run does this).", ex);
        }

        using (process)
        {
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"openssl {args[0]} failed with code {process.ExitCode}: {await output}{await error}");
            }
        }
    }
}
