using System.Diagnostics;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Stores;

/// <summary>
/// TLS is validated, not only negotiated, on every path: a server whose certificate comes from an authority the app was
/// not told to trust, or was issued for another name than the one it is reached by, gets nothing and serves nothing,
/// through StackExchange.Redis, the synchronous client or the link (which must not fail the process either).
/// </summary>
public sealed class TlsValidationTests : IAsyncLifetime
{
    private const string Password = "pw-2e8d40";
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private TestCertificates _certificates = null!;
    private RedisServer _server = null!;

    public async Task InitializeAsync()
    {
        _certificates = await TestCertificates.CreateAsync();
        _server = await RedisServer.StartAsync(new RedisSecurity(null, Password, _certificates));
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _certificates.Dispose();
    }

    private static ServiceProvider Services(string redis, string? authority, LogRecorder logs) => TestServices.Build(
        o =>
        {
            (o.Store, o.Redis, o.SslCaFile) = (RcStoreKind.Redis, redis, authority);
            o.Namespace = "tls:";
            o.NearCache.Enabled = true;
            o.CircuitBreakDuration = TimeSpan.FromMilliseconds(200);
        },
        s => s.AddLogging(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Trace)));

    [Fact]
    public async Task CertificateOfAnAuthorityNotTrusted_IsRefused_AndNothingIsStored()
    {
        // The right name and password, but no Rc:SslCaFile: the machine does not trust the test's authority.
        await AssertRefusedAsync($"{_server.EndPoint},ssl=true,sslHost={_certificates.HostName},password={Password},connectTimeout=1000", null);
    }

    [Fact]
    public async Task CertificateForAnotherName_IsRefused_AndNothingIsStored()
    {
        // The trusted authority issued the certificate for localhost; the server is reached as 127.0.0.1 with no sslHost.
        await AssertRefusedAsync($"{_server.EndPoint},ssl=true,password={Password},connectTimeout=1000", _certificates.AuthorityFile);
    }

    /// <summary>An app that calls only asynchronously, and one that calls only synchronously: each path refuses the certificate on its own.</summary>
    private async Task AssertRefusedAsync(string redis, string? authority)
    {
        var asyncLogs = new LogRecorder();
        await using (var services = Services(redis, authority, asyncLogs))
        {
            var cache = services.GetRequiredService<IDistributedCache>();
            await UntilRefusedAsync(asyncLogs, async () =>
            {
                await cache.SetStringAsync("async", "value");
                Assert.Null(await cache.GetStringAsync("async"));
            });
        }

        var syncLogs = new LogRecorder();
        await using (var services = Services(redis, authority, syncLogs))
        {
            var cache = services.GetRequiredService<IDistributedCache>();
            await UntilRefusedAsync(syncLogs, () =>
            {
                cache.SetString("sync", "value");
                Assert.Null(cache.GetString("sync"));
                return Task.CompletedTask;
            });
        }

        Assert.Equal(":0\r\n", await _server.CommandAsync("DBSIZE"));
    }

    private static async Task UntilRefusedAsync(LogRecorder logs, Func<Task> calls)
    {
        var refused = Stopwatch.StartNew();
        while (!logs.Records.Any(static r => r.Id.Id == 113))
        {
            Assert.True(refused.Elapsed < Deadline, "The refused certificate was never reported.");
            await calls();
            await Task.Delay(50);
        }

        var record = Assert.Single(logs.Records, static r => r.Id.Id == 113);
        Assert.Equal(("RcAuthenticationFailed", LogLevel.Error), (record.Id.Name, record.Level));
        Assert.Contains("TLS certificate was not accepted", record.Message, StringComparison.Ordinal);
    }
}
