using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace RcAspNet.Caching;

/// <summary>
/// The default <see cref="IRcSerializer"/>: System.Text.Json with the web defaults, written in the text Python's
/// <c>json.dumps</c> produces (rc's <c>JSONSerializer</c>), so either side reads and writes the other's entries.
/// <c>services.ConfigureRcJson(...)</c> changes its options, to add a <c>JsonSerializerContext</c> for trimmed and
/// AOT apps, say. No type names are read from the store.
/// </summary>
internal sealed class RcJsonSerializer : IRcSerializer
{
    private readonly JsonSerializerOptions _options;

    /// <param name="configure">Changes the options, which start from the web defaults.</param>
    public RcJsonSerializer(Action<JsonSerializerOptions>? configure = null)
    {
        _options = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        configure?.Invoke(_options);
        _options.TypeInfoResolver ??= new DefaultJsonTypeInfoResolver();
        _options.MakeReadOnly();
    }

    /// <summary>What <c>ConfigureRcJson</c> registered.</summary>
    internal sealed class Setup
    {
        public Action<JsonSerializerOptions>? Configure { get; set; }
    }

    public byte[] Serialize<T>(T value)
    {
        var compact = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(compact))
        {
            JsonSerializer.Serialize(writer, value, (JsonTypeInfo<T>)_options.GetTypeInfo(typeof(T)));
        }

        return PythonJson.Format(compact.WrittenSpan);
    }

    public T Deserialize<T>(ReadOnlySpan<byte> data) =>
        JsonSerializer.Deserialize(data, (JsonTypeInfo<T>)_options.GetTypeInfo(typeof(T)))!;
}
