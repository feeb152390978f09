using System.Buffers;
using System.Reflection.Metadata;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

[assembly: MetadataUpdateHandler(typeof(RcAspNet.Caching.RcJsonSerializer.HotReload))]

namespace RcAspNet.Caching;

/// <summary>
/// The default <see cref="IRcSerializer"/>: System.Text.Json with the web defaults, written in the text Python's
/// <c>json.dumps</c> produces (rc's <c>JSONSerializer</c>), so either side reads and writes the other's entries.
/// <c>services.ConfigureRcJson(...)</c> changes its options, to add a <c>JsonSerializerContext</c> for trimmed and
/// AOT apps, say. No type names are read from the store.
/// </summary>
internal sealed class RcJsonSerializer : IRcSerializer
{
    private static int s_slots;
    private static int s_epoch;
    private readonly JsonSerializerOptions _options;
    private Contracts _contracts = new(0, []);

    /// <param name="configure">Changes the options, which start from the web defaults.</param>
    public RcJsonSerializer(Action<JsonSerializerOptions>? configure = null)
    {
        _options = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        configure?.Invoke(_options);

        // After the application's own: a converter it added for floats comes first.
        foreach (var converter in PythonFloat.Converters)
        {
            _options.Converters.Add(converter);
        }

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
    /// The options' contract for <typeparamref name="T"/>, remembered by this serializer in a slot of the type's own: the
    /// options' lookup took nearly as long as reading a 100-byte value (perf of <c>batch --shards 1 --only getmany</c>:
    /// 2.0 % of the samples against 2.6 %). A hot reload forgets them, as System.Text.Json forgets its own.
    /// </summary>
    private JsonTypeInfo<T> InfoOf<T>()
    {
        var known = _contracts;
        var slot = ContractSlot<T>.Index;
        if (known.Epoch == Volatile.Read(ref s_epoch) && slot < known.Infos.Length && known.Infos[slot] is JsonTypeInfo<T> info)
        {
            return info;
        }

        // Two types added at once may lose one of them: it is looked up again next time.
        var epoch = Volatile.Read(ref s_epoch);
        info = (JsonTypeInfo<T>)_options.GetTypeInfo(typeof(T));
        var infos = new JsonTypeInfo?[Math.Max(slot + 1, known.Epoch == epoch ? known.Infos.Length : 0)];
        if (known.Epoch == epoch)
        {
            known.Infos.CopyTo(infos, 0);
        }

        infos[slot] = info;
        _contracts = new Contracts(epoch, infos);
        return info;
    }

    /// <summary>Forgets every serializer's contracts when a hot reload changes types (<see cref="MetadataUpdateHandlerAttribute"/>).</summary>
    internal static class HotReload
    {
        public static void ClearCache(Type[]? updatedTypes) => Interlocked.Increment(ref s_epoch);
    }

    private sealed record Contracts(int Epoch, JsonTypeInfo?[] Infos);

    /// <summary>A slot per type that any serializer of the process was asked for.</summary>
    private static class ContractSlot<T>
    {
        public static readonly int Index = Interlocked.Increment(ref s_slots) - 1;
    }
}
