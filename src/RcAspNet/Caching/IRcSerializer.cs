namespace RcAspNet;

/// <summary>
/// Turns values into the bytes a typed cache stores, and back (rc's <c>serializer_cls</c>). The default writes JSON
/// exactly as rc's Python <c>JSONSerializer</c> does. Register another implementation in DI to replace it.
/// </summary>
public interface IRcSerializer
{
    /// <summary>Serializes <paramref name="value"/>.</summary>
    byte[] Serialize<T>(T value);

    /// <summary>Deserializes <paramref name="data"/>; throws when the bytes are not a <typeparamref name="T"/>, which the cache treats as a miss.</summary>
    T Deserialize<T>(ReadOnlySpan<byte> data);
}
