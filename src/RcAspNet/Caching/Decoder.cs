namespace RcAspNet.Caching;

/// <summary>Reads cached bytes as a <typeparamref name="T"/>; false when they are not one.</summary>
internal delegate bool Decoder<T>(ReadOnlyMemory<byte> bytes, out T? value);
