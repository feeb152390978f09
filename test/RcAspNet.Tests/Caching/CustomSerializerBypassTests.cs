using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Caching;

/// <summary>
/// Configured bypass values (Rc:BypassValues) are JSON text; with an IRcSerializer that does not write JSON, a result is
/// compared with each value as that serializer writes it, as a call's own bypass values are.
/// </summary>
public sealed class CustomSerializerBypassTests
{
    private readonly LogRecorder _logs = new();

    private ServiceProvider Services<TSerializer>()
        where TSerializer : class, IRcSerializer => TestServices.Build(
        static o =>
        {
            o.Namespace = SharedRedis.UniqueNamespace();
            o.BypassValues.AddRange(["null", "[]", "0", "\"\""]);
        },
        s => s.AddSingleton<IRcSerializer, TSerializer>().AddLogging(b => b.AddProvider(_logs).SetMinimumLevel(LogLevel.Trace)));

    [Fact]
    public async Task ConfiguredBypassValues_AreNotStored_WhenTheSerializerDoesNotWriteJson()
    {
        await using var services = Services<BracketSerializer>();
        var cache = services.GetRequiredService<IRcCache>();

        await cache.SetAsync<string?>("null", null);
        await cache.SetAsync<int[]>("empty-list", []);
        await cache.SetAsync("zero", 0);
        await cache.SetAsync("empty-string", string.Empty);
        await cache.SetAsync("one", 1);

        Assert.False(await cache.ExistsAsync("null"));
        Assert.False(await cache.ExistsAsync("empty-list"));
        Assert.False(await cache.ExistsAsync("zero"));
        Assert.False(await cache.ExistsAsync("empty-string"));
        Assert.Equal(1, await cache.GetAsync<int>("one"));
    }

    [Fact]
    public async Task ABypassValueTheSerializerCannotWrite_IsAWarning_AndTheCacheStillServes()
    {
        await using var services = Services<TextOnlySerializer>();
        var cache = services.GetRequiredService<IRcCache>();

        await cache.SetAsync("greeting", "hello");
        Assert.Equal("hello", await cache.GetAsync<string>("greeting"));

        // The serializer writes text only: null, [] and 0 cannot be written, "" can.
        var warnings = _logs.Records.Where(static r => r.Id.Id == 306).ToList();
        Assert.All(warnings, static w => Assert.Equal(("RcBypassValueNotWritable", LogLevel.Warning), (w.Id.Name, w.Level)));
        Assert.Equal(
            ["0", "[]", "null"],
            warnings.Select(static w => w.Message.Split(' ')[3]).Order(StringComparer.Ordinal));
        Assert.All(warnings, w => Assert.Contains(cache.Namespace, w.Message, StringComparison.Ordinal));

        await cache.SetAsync("blank", string.Empty);
        Assert.False(await cache.ExistsAsync("blank"));
    }

    [Fact]
    public async Task ASerializerThatWritesJsonButNotPlainValues_StillMatchesTheJsonText()
    {
        await using var services = Services<TypedJsonSerializer>();
        var cache = services.GetRequiredService<IRcCache>();

        await cache.SetAsync<string?>("null", null);
        await cache.SetAsync<int[]>("empty-list", []);
        await cache.SetAsync("one", 1);

        Assert.False(await cache.ExistsAsync("null"));
        Assert.False(await cache.ExistsAsync("empty-list"));
        Assert.Equal(1, await cache.GetAsync<int>("one"));
        Assert.Equal(4, _logs.Records.Count(static r => r.Id.Id == 306));
    }

    [Fact]
    public async Task RcCachedBodies_AreComparedWithTheJsonText_NotWithTheSerializersBytes()
    {
        await using var services = Services<BracketSerializer>();
        var cache = (RcAspNet.Caching.RcCache)services.GetRequiredService<IRcCache>();

        var texts = cache.BypassTexts.Select(Encoding.UTF8.GetString).ToHashSet(StringComparer.Ordinal);
        Assert.Superset(new HashSet<string>(["null", "[]", "0", "\"\""], StringComparer.Ordinal), texts);
        Assert.DoesNotContain(texts, static t => t.StartsWith('<'));
    }

    /// <summary>JSON between angle brackets: any value, but bytes that are never the JSON text itself.</summary>
    private sealed class BracketSerializer : IRcSerializer
    {
        public byte[] Serialize<T>(T value) => Encoding.UTF8.GetBytes($"<{JsonSerializer.Serialize(value)}>");

        public T Deserialize<T>(ReadOnlySpan<byte> data) => JsonSerializer.Deserialize<T>(data[1..^1])!;
    }

    /// <summary>JSON of a declared type only, as a source-generated context without <c>object</c> writes it.</summary>
    private sealed class TypedJsonSerializer : IRcSerializer
    {
        public byte[] Serialize<T>(T value) => typeof(T) == typeof(object)
            ? throw new NotSupportedException("No contract for System.Object.")
            : JsonSerializer.SerializeToUtf8Bytes(value);

        public T Deserialize<T>(ReadOnlySpan<byte> data) => JsonSerializer.Deserialize<T>(data)!;
    }

    /// <summary>Strings only, as "text:…".</summary>
    private sealed class TextOnlySerializer : IRcSerializer
    {
        public byte[] Serialize<T>(T value) => value is string text
            ? Encoding.UTF8.GetBytes("text:" + text)
            : throw new NotSupportedException($"This serializer writes strings only, not {value?.GetType().Name ?? "null"}.");

        public T Deserialize<T>(ReadOnlySpan<byte> data) => (T)(object)Encoding.UTF8.GetString(data)["text:".Length..];
    }
}
