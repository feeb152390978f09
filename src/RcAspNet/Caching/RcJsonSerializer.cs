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
            JsonSerializer.Serialize(writer, value, InfoOf<T>());
        }

        return PythonJson.Format(compact.WrittenSpan);
    }

    public T Deserialize<T>(ReadOnlySpan<byte> data) => JsonSerializer.Deserialize(data, InfoOf<T>())!;

    /// <summary>
    /// The options' contract for <typeparamref name="T"/>, remembered per type for the last options that asked (an app
    /// has one serializer): the options' own lookup took nearly as long as reading a 100-byte value (perf of
    /// <c>batch --shards 1 --only getmany</c>: 2.0 % of the samples against 2.6 %).
    /// </summary>
    private JsonTypeInfo<T> InfoOf<T>()
    {
        if (TypeInfoOf<T>.Last is { } last && ReferenceEquals(last.Options, _options))
        {
            return last.Info;
        }

        var info = (JsonTypeInfo<T>)_options.GetTypeInfo(typeof(T));
        TypeInfoOf<T>.Last = new TypeInfoOf<T>(_options, info);
        return info;
    }

    private sealed class TypeInfoOf<T>(JsonSerializerOptions options, JsonTypeInfo<T> info)
    {
        public static TypeInfoOf<T>? Last { get; set; }

        public JsonSerializerOptions Options { get; } = options;

        public JsonTypeInfo<T> Info { get; } = info;
    }
}
