using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace RcAspNet.Caching;

/// <summary>
/// Writes <see cref="double"/> and <see cref="float"/> as Python's <c>repr</c> (and so <c>json.dumps</c>) writes a
/// float: the shortest digits that read back, with <c>.0</c> when they make a whole number (<c>1.0</c>, not <c>1</c>,
/// which Python would read as an int), positional from 1e-4 up to 1e16 and with an exponent of at least two digits
/// outside (<c>1e+16</c>, <c>1e-05</c>). Reads as System.Text.Json does, with the options' number handling.
/// </summary>
internal static class PythonFloat
{
    /// <summary>The converters, for <see cref="JsonSerializerOptions.Converters"/>.</summary>
    public static readonly JsonConverter[] Converters = [new DoubleConverter(), new SingleConverter()];

    /// <summary>The text Python's <c>repr</c> gives a float whose shortest round-trip text in .NET is <paramref name="shortest"/>.</summary>
    public static string Format(string shortest)
    {
        var negative = shortest.StartsWith('-');
        var text = negative ? shortest[1..] : shortest;
        var e = text.IndexOfAny(['E', 'e']);
        var exponent = e < 0 ? 0 : int.Parse(text.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        var mantissa = e < 0 ? text : text[..e];
        var dot = mantissa.IndexOf('.');
        var whole = dot < 0 ? mantissa : mantissa[..dot];
        var digits = whole + (dot < 0 ? "" : mantissa[(dot + 1)..]);

        // The value is 0.DIGITS x 10^point.
        var point = whole.Length + exponent;
        var leading = digits.Length - digits.TrimStart('0').Length;
        digits = digits.Trim('0');
        point -= leading;
        var sign = negative ? "-" : "";
        if (digits.Length == 0)
        {
            return sign + "0.0";
        }

        if (point is > -4 and <= 16)
        {
            return sign + (point <= 0 ? "0." + new string('0', -point) + digits
                : point >= digits.Length ? digits + new string('0', point - digits.Length) + ".0"
                : digits[..point] + "." + digits[point..]);
        }

        var power = point - 1;
        var builder = new StringBuilder(sign).Append(digits[0]);
        if (digits.Length > 1)
        {
            builder.Append('.').Append(digits, 1, digits.Length - 1);
        }

        return builder.Append(power < 0 ? "e-" : "e+").Append(Math.Abs(power).ToString("00", CultureInfo.InvariantCulture)).ToString();
    }

    private static bool Allows(JsonSerializerOptions options, JsonNumberHandling handling) => (options.NumberHandling & handling) != 0;

    private static double Read(ref Utf8JsonReader reader, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String)
        {
            return reader.GetDouble();
        }

        var text = reader.GetString();
        if (Allows(options, JsonNumberHandling.AllowNamedFloatingPointLiterals))
        {
            switch (text)
            {
                case "NaN":
                    return double.NaN;
                case "Infinity":
                    return double.PositiveInfinity;
                case "-Infinity":
                    return double.NegativeInfinity;
            }
        }

        return Allows(options, JsonNumberHandling.AllowReadingFromString)
            && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value)
            ? value
            : throw new JsonException($"'{text}' is not a number this serializer reads.");
    }

    private static void Write(Utf8JsonWriter writer, double value, string shortest, JsonSerializerOptions options)
    {
        if (double.IsFinite(value))
        {
            writer.WriteRawValue(Format(shortest), skipInputValidation: true);
        }
        else if (Allows(options, JsonNumberHandling.AllowNamedFloatingPointLiterals))
        {
            writer.WriteStringValue(double.IsNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity");
        }
        else
        {
            // As System.Text.Json refuses it.
            writer.WriteNumberValue(value);
        }
    }

    private sealed class DoubleConverter : JsonConverter<double>
    {
        public override double Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => PythonFloat.Read(ref reader, options);

        public override void Write(Utf8JsonWriter writer, double value, JsonSerializerOptions options) =>
            PythonFloat.Write(writer, value, value.ToString("R", CultureInfo.InvariantCulture), options);
    }

    private sealed class SingleConverter : JsonConverter<float>
    {
        public override float Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => (float)PythonFloat.Read(ref reader, options);

        public override void Write(Utf8JsonWriter writer, float value, JsonSerializerOptions options) =>
            PythonFloat.Write(writer, value, value.ToString("R", CultureInfo.InvariantCulture), options);
    }
}
