using System.Buffers;
using System.Text;
using System.Text.Json;

namespace RcAspNet.Caching;

/// <summary>
/// Rewrites compact JSON in the text of Python's <c>json.dumps</c> defaults: <c>", "</c> and <c>": "</c> as
/// separators, and every character outside printable ASCII escaped as a lowercase <c>\uXXXX</c> (ensure_ascii).
/// </summary>
internal static class PythonJson
{
    public static byte[] Format(ReadOnlySpan<byte> json)
    {
        var output = new ArrayBufferWriter<byte>(json.Length + (json.Length / 4) + 16);
        var reader = new Utf8JsonReader(json);
        var previous = JsonTokenType.None;
        while (reader.Read())
        {
            var token = reader.TokenType;
            if (token is not JsonTokenType.EndObject and not JsonTokenType.EndArray
                && previous is not (JsonTokenType.None or JsonTokenType.StartObject or JsonTokenType.StartArray or JsonTokenType.PropertyName))
            {
                Write(output, ", "u8);
            }

            previous = token;
            switch (token)
            {
                case JsonTokenType.StartObject:
                    Write(output, "{"u8);
                    break;
                case JsonTokenType.EndObject:
                    Write(output, "}"u8);
                    break;
                case JsonTokenType.StartArray:
                    Write(output, "["u8);
                    break;
                case JsonTokenType.EndArray:
                    Write(output, "]"u8);
                    break;
                case JsonTokenType.PropertyName:
                    WriteString(output, reader.GetString()!);
                    Write(output, ": "u8);
                    break;
                case JsonTokenType.String:
                    WriteString(output, reader.GetString()!);
                    break;
                case JsonTokenType.Number:
                    WriteNumber(output, reader.HasValueSequence ? reader.ValueSequence.ToArray() : reader.ValueSpan);
                    break;
                default:
                    Write(output, reader.ValueSpan);
                    break;
            }
        }

        return output.WrittenSpan.ToArray();
    }

    private static void Write(ArrayBufferWriter<byte> output, ReadOnlySpan<byte> bytes) => output.Write(bytes);

    private static void WriteNumber(ArrayBufferWriter<byte> output, ReadOnlySpan<byte> number)
    {
        var span = output.GetSpan(number.Length);
        number.CopyTo(span);
        for (var i = 0; i < number.Length; i++)
        {
            if (span[i] == (byte)'E')
            {
                span[i] = (byte)'e';
            }
        }

        output.Advance(number.Length);
    }

    private static void WriteString(ArrayBufferWriter<byte> output, string value) =>
        Write(output, Encoding.ASCII.GetBytes(JsonString.Append(new StringBuilder(value.Length + 2), value, asciiOnly: true).ToString()));
}
