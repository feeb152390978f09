using System.Globalization;
using System.Numerics;
using System.Text;
using RcAspNet.Caching;

namespace RcAspNet;

/// <summary>
/// Builds the key of a function result as rc does (<c>[prefix ]name arg1 arg2</c>), but unambiguously: every argument
/// has one text form that cannot contain a separator. Strings are JSON string literals (<c>"a b"</c>); null is
/// <c>null</c>; booleans <c>true</c>/<c>false</c>; numbers invariant and shortest (<c>42</c>, <c>-1.5</c>, decimals
/// without trailing zeros); <see cref="DateTime"/> and <see cref="DateTimeOffset"/> ISO 8601 round-trip (local times
/// as UTC); <see cref="DateOnly"/> <c>yyyy-MM-dd</c>; <see cref="TimeOnly"/> and <see cref="TimeSpan"/> invariant;
/// <see cref="Guid"/> <c>D</c>; enums by member name (flags joined with <c>|</c>); arrays and lists as
/// <c>[1,2,3]</c>. So <c>f("a b")</c> is
/// <c>f "a b"</c> and <c>f("a", "b")</c> is <c>f "a" "b"</c>.
/// </summary>
public static class RcKey
{
    /// <summary>Returns the key of <paramref name="name"/> called with <paramref name="args"/>.</summary>
    /// <param name="name">The function's name, without whitespace, such as <c>Post.GetById</c>.</param>
    /// <param name="args">The arguments, in order.</param>
    public static string For(string name, params object?[] args) => WithPrefix(null, name, args);

    /// <summary>Returns the key of <paramref name="name"/> called with <paramref name="args"/>, after rc's <c>key_prefix</c>.</summary>
    /// <param name="prefix">A prefix without whitespace, such as a version (<c>v2</c>); <see langword="null"/> for none.</param>
    /// <param name="name">The function's name, without whitespace.</param>
    /// <param name="args">The arguments, in order.</param>
    public static string WithPrefix(string? prefix, string name, params object?[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var key = new StringBuilder();
        if (prefix is not null)
        {
            key.Append(Word(prefix, nameof(prefix))).Append(' ');
        }

        key.Append(Word(name, nameof(name)));
        foreach (var arg in args)
        {
            Append(key.Append(' '), arg, nameof(args));
        }

        return key.ToString();
    }

    /// <summary>Appends the text form of one argument.</summary>
    internal static StringBuilder Append(StringBuilder key, object? arg, string paramName = "args") => arg switch
    {
        null => key.Append("null"),
        string s => JsonString.Append(key, s, asciiOnly: false),
        char c => JsonString.Append(key, c.ToString(), asciiOnly: false),
        bool b => key.Append(b ? "true" : "false"),
        decimal m => key.Append((m / 1.000000000000000000000000000000000m).ToString(CultureInfo.InvariantCulture)),
        float or double or Half => key.Append(((IFormattable)arg).ToString(null, CultureInfo.InvariantCulture)),
        sbyte or byte or short or ushort or int or uint or long or ulong or nint or nuint or Int128 or UInt128 or BigInteger =>
            key.Append(((IFormattable)arg).ToString(null, CultureInfo.InvariantCulture)),
        DateTime d => key.Append((d.Kind == DateTimeKind.Local ? d.ToUniversalTime() : d).ToString("O", CultureInfo.InvariantCulture)),
        DateTimeOffset d => key.Append(d.ToString("O", CultureInfo.InvariantCulture)),
        DateOnly d => key.Append(d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)),
        TimeOnly t => key.Append(t.ToString("HH:mm:ss.fffffff", CultureInfo.InvariantCulture)),
        TimeSpan t => key.Append(t.ToString("c", CultureInfo.InvariantCulture)),
        Guid g => key.Append(g.ToString("D")),
        Enum e => key.Append(e.ToString().Replace(", ", "|", StringComparison.Ordinal)),
        System.Collections.IEnumerable items => AppendList(key, items, paramName),
        _ => throw new ArgumentException(
            $"An argument of type {arg.GetType().Name} has no stable key form; pass a string, number, boolean, date, Guid, enum or null.",
            paramName),
    };

    /// <summary>Whether values of <paramref name="type"/> have a key form.</summary>
    internal static bool IsKeyType(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (type.IsArray)
        {
            return IsKeyType(type.GetElementType()!);
        }

        return type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(decimal) || type == typeof(Half)
            || type == typeof(Int128) || type == typeof(UInt128) || type == typeof(BigInteger)
            || type == typeof(DateTime) || type == typeof(DateTimeOffset) || type == typeof(DateOnly) || type == typeof(TimeOnly)
            || type == typeof(TimeSpan) || type == typeof(Guid)
            || (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>) && IsKeyType(type.GetGenericArguments()[0]));
    }

    private static StringBuilder AppendList(StringBuilder key, System.Collections.IEnumerable items, string paramName)
    {
        key.Append('[');
        var first = true;
        foreach (var item in items)
        {
            Append(first ? key : key.Append(','), item, paramName);
            first = false;
        }

        return key.Append(']');
    }

    private static string Word(string value, string paramName)
    {
        ArgumentNullException.ThrowIfNull(value, paramName);
        if (value.Length == 0 || value.Any(char.IsWhiteSpace))
        {
            throw new ArgumentException("A key name or prefix must be non-empty and contain no whitespace: the key separates its parts with spaces.", paramName);
        }

        return value;
    }
}
