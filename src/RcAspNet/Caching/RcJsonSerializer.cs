using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace RcAspNet.Caching;

/// <summary>
/// The default <see cref="IRcSerializer"/>: System.Text.Json with the web defaults, written in the text Python's
/// <c>json.dumps</c> produces (rc's <c>JSONSerializer</c>), so either side reads and writes the other's entries.
/// Configure the named <see cref="JsonSerializerOptions"/> <see cref="OptionsName"/> to add a
/// <c>JsonSerializerContext</c> for trimmed and AOT apps. No type names are read from the store.
/// </summary>
internal sealed class RcJsonSerializer : IRcSerializer
{
    /// <summary>The name of the <see cref="JsonSerializerOptions"/> this serializer uses.</summary>
    public const string OptionsName = "RcAspNet";

    private readonly JsonSerializerOptions _options;

    public RcJsonSerializer(JsonSerializerOptions? options = null)
    {
        _options = new JsonSerializerOptions(options ?? new JsonSerializerOptions(JsonSerializerDefaults.Web));
        _options.TypeInfoResolver ??= new DefaultJsonTypeInfoResolver();
        _options.MakeReadOnly();
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
