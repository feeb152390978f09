using System.Data.Common;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;

namespace BlogApp.Tests.Infrastructure;

/// <summary>
/// The blog on a database file of its own, with its settings overridden and its SQL counted; with a
/// <paramref name="time"/>, on that clock (RcAspNet takes its <see cref="TimeProvider"/> from DI).
/// </summary>
public sealed partial class BlogFactory(Dictionary<string, string?>? settings = null, TimeProvider? time = null) : WebApplicationFactory<Program>
{
    private readonly string _database = Path.Combine(Path.GetTempPath(), $"blog-{Guid.NewGuid():N}.db");

    private string Away => _database + ".away";

    public SqlCounter Sql { get; } = new();

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Development");
        builder.UseSetting("ConnectionStrings:Blog", $"Data Source={_database}");
        builder.UseSetting("Rc:Namespace", $"blog{Guid.NewGuid():N}:");

        // A slow moment of a loaded machine must not turn a call into a timeout that reads as a miss; tests of faults set their own.
        builder.UseSetting("Rc:OperationTimeout", "00:00:05");
        foreach (var (key, value) in settings ?? [])
        {
            builder.UseSetting(key, value);
        }

        builder.ConfigureTestServices(services =>
        {
            services.ConfigureDbContext<BlogDb>(o => o.AddInterceptors(Sql));
            if (time is not null)
            {
                services.AddSingleton(time);
            }
        });
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        SqliteConnection.ClearAllPools();
        if (Directory.Exists(_database))
        {
            Directory.Delete(_database);
        }

        File.Delete(_database);
        File.Delete(Away);
    }

    /// <summary>
    /// Takes the database away: its file is moved aside and a directory takes its name, so that opening it fails as an
    /// unreachable database does (a missing file would be created anew, empty), and the pooled connections, which
    /// keep the old file open, are closed. Every query of the blog throws until <see cref="BringDatabaseBack"/>.
    /// </summary>
    public void TakeDatabaseDown()
    {
        SqliteConnection.ClearAllPools();
        File.Move(_database, Away);
        Directory.CreateDirectory(_database);
    }

    /// <summary>Puts the database file back where the blog looks for it.</summary>
    public void BringDatabaseBack()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_database);
        File.Move(Away, _database);
    }

    /// <summary>Changes a post's title in the database behind the blog's back: nothing is invalidated, so only a fresh render shows it.</summary>
    public async Task RetitleInDatabaseAsync(int id, string title)
    {
        await using (var connection = new SqliteConnection($"Data Source={_database}"))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "UPDATE Posts SET Title = $title WHERE Id = $id";
            command.Parameters.AddWithValue("$title", title);
            command.Parameters.AddWithValue("$id", id);
            Assert.Equal(1, await command.ExecuteNonQueryAsync());
        }

        SqliteConnection.ClearAllPools();
    }

    /// <summary>Adds a post through the form, as a browser would: GET / for the token, then POST /add.</summary>
    public async Task<HttpResponseMessage> AddAsync(HttpClient client, string title, string content)
    {
        var token = Token(await client.GetStringAsync("/"));
        return await client.PostAsync("/add", Form(("title", title), ("content", content), ("__RequestVerificationToken", token)));
    }

    /// <summary>Updates a post as a browser would: its edit page for the visitor's token, then the form's POST.</summary>
    public static async Task<HttpResponseMessage> UpdateAsync(HttpClient client, int id, string title, string content)
    {
        var edit = await client.GetAsync($"/post/{id}/edit");
        var token = Token(await (edit.IsSuccessStatusCode ? edit.Content.ReadAsStringAsync() : client.GetStringAsync("/")));
        return await client.PostAsync($"/post/{id}", Form(("title", title), ("content", content), ("__RequestVerificationToken", token)));
    }

    public HttpClient Browser() => CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });

    public static FormUrlEncodedContent Form(params (string Name, string Value)[] fields) =>
        new(fields.Select(static f => new KeyValuePair<string, string>(f.Name, f.Value)));

    public static string Token(string html) => TokenPattern().Match(html).Groups[1].Value;

    [GeneratedRegex("name=\"__RequestVerificationToken\" value=\"([^\"]+)\"")]
    private static partial Regex TokenPattern();
}

/// <summary>Counts the SQL commands EF Core sends.</summary>
public sealed class SqlCounter : DbCommandInterceptor
{
    private int _count;

    public int Count => Volatile.Read(ref _count);

    public void Reset() => Interlocked.Exchange(ref _count, 0);

    public override InterceptionResult<DbDataReader> ReaderExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result)
    {
        Interlocked.Increment(ref _count);
        return result;
    }

    public override ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _count);
        return ValueTask.FromResult(result);
    }

    public override InterceptionResult<int> NonQueryExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<int> result)
    {
        Interlocked.Increment(ref _count);
        return result;
    }

    public override ValueTask<InterceptionResult<int>> NonQueryExecutingAsync(DbCommand command, CommandEventData eventData, InterceptionResult<int> result, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _count);
        return ValueTask.FromResult(result);
    }

    public override InterceptionResult<object> ScalarExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<object> result)
    {
        Interlocked.Increment(ref _count);
        return result;
    }

    public override ValueTask<InterceptionResult<object>> ScalarExecutingAsync(DbCommand command, CommandEventData eventData, InterceptionResult<object> result, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _count);
        return ValueTask.FromResult(result);
    }
}
