using System.Globalization;
using System.Text;

namespace RcAspNet.Caching;

/// <summary>Writes a JSON string literal, as both the key format (<see cref="RcKey"/>) and Python's <c>json.dumps</c> (<see cref="PythonJson"/>) need one.</summary>
internal static class JsonString
{
    /// <summary>Appends <paramref name="value"/> in quotes, escaping quotes, backslashes and control characters; with <paramref name="asciiOnly"/>, every character outside printable ASCII too (Python's <c>ensure_ascii</c>).</summary>
    public static StringBuilder Append(StringBuilder text, string value, bool asciiOnly)
    {
        text.Append('"');
        foreach (var c in value)
        {
            _ = c switch
            {
                '"' => text.Append("\\\""),
                '\\' => text.Append("\\\\"),
                '\n' => text.Append("\\n"),
                '\r' => text.Append("\\r"),
                '\t' => text.Append("\\t"),
                '\b' => text.Append("\\b"),
                '\f' => text.Append("\\f"),
                >= ' ' and <= '~' => text.Append(c),
                < ' ' or '\u007f' => Unicode(text, c),
                _ when asciiOnly => Unicode(text, c),
                _ => text.Append(c),
            };
        }

        return text.Append('"');
    }

    private static StringBuilder Unicode(StringBuilder text, char c) => text.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
}
