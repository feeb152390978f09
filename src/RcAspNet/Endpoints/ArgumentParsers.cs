using System.ComponentModel;
using System.Globalization;
using System.Numerics;

namespace RcAspNet.Endpoints;

/// <summary>
/// The parsers of the two binders a key argument may go through, so that a key read from the request is the key of the
/// value the handler receives. Minimal APIs bind as RequestDelegateFactory does (invariant culture, the styles of its
/// ParameterBindingMethodCache); MVC actions and Razor Pages as MVC's SimpleTypeModelBinder does (the type's
/// <see cref="TypeConverter"/>, invariant culture for route, query and header values).
/// </summary>
internal static class ArgumentParsers
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    /// <summary>The minimal-API parser of <paramref name="type"/>, or null for a type RcAspNet does not key.</summary>
    public static ArgumentParser? Minimal(Type type)
    {
        if (type == typeof(string))
        {
            return static (string s, out object? v) => Result(s, true, out v);
        }

        if (type.IsEnum)
        {
            return (string s, out object? v) => Result(Enum.TryParse(type, s, ignoreCase: false, out var e) ? e : null, e is not null, out v);
        }

        return Type.GetTypeCode(type) switch
        {
            TypeCode.Boolean => static (string s, out object? v) => Result(bool.TryParse(s, out var x) ? x : null, true, out v),
            TypeCode.Char => static (string s, out object? v) => Result(char.TryParse(s, out var x) ? x : null, true, out v),
            TypeCode.SByte => static (string s, out object? v) => Result(sbyte.TryParse(s, NumberStyles.Integer, Invariant, out var x) ? x : null, true, out v),
            TypeCode.Byte => static (string s, out object? v) => Result(byte.TryParse(s, NumberStyles.Integer, Invariant, out var x) ? x : null, true, out v),
            TypeCode.Int16 => static (string s, out object? v) => Result(short.TryParse(s, NumberStyles.Integer, Invariant, out var x) ? x : null, true, out v),
            TypeCode.UInt16 => static (string s, out object? v) => Result(ushort.TryParse(s, NumberStyles.Integer, Invariant, out var x) ? x : null, true, out v),
            TypeCode.Int32 => static (string s, out object? v) => Result(int.TryParse(s, NumberStyles.Integer, Invariant, out var x) ? x : null, true, out v),
            TypeCode.UInt32 => static (string s, out object? v) => Result(uint.TryParse(s, NumberStyles.Integer, Invariant, out var x) ? x : null, true, out v),
            TypeCode.Int64 => static (string s, out object? v) => Result(long.TryParse(s, NumberStyles.Integer, Invariant, out var x) ? x : null, true, out v),
            TypeCode.UInt64 => static (string s, out object? v) => Result(ulong.TryParse(s, NumberStyles.Integer, Invariant, out var x) ? x : null, true, out v),
            TypeCode.Single => static (string s, out object? v) => Result(float.TryParse(s, NumberStyles.Float | NumberStyles.AllowThousands, Invariant, out var x) ? x : null, true, out v),
            TypeCode.Double => static (string s, out object? v) => Result(double.TryParse(s, NumberStyles.Float | NumberStyles.AllowThousands, Invariant, out var x) ? x : null, true, out v),
            TypeCode.Decimal => static (string s, out object? v) => Result(decimal.TryParse(s, NumberStyles.Number, Invariant, out var x) ? x : null, KeyedExactly(x), out v),
            TypeCode.DateTime => static (string s, out object? v) =>
                Result(DateTime.TryParse(s, Invariant, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AllowWhiteSpaces, out var x) ? x : null, true, out v),
            _ => Other(type),
        };
    }

    /// <summary>The MVC parser of <paramref name="type"/>: its <see cref="TypeConverter"/> with the invariant culture.</summary>
    public static ArgumentParser? Mvc(Type type)
    {
        if (type == typeof(string))
        {
            return static (string s, out object? v) => Result(s, true, out v);
        }

        if (Minimal(type) is null)
        {
            return null;
        }

        var converter = TypeDescriptor.GetConverter(type);
        return (string s, out object? v) =>
        {
            try
            {
                var parsed = converter.ConvertFrom(null, Invariant, s);
                return Result(parsed, parsed is not decimal d || KeyedExactly(d), out v);
            }
            catch (Exception ex) when (ex is FormatException or ArgumentException or NotSupportedException or OverflowException || ex.InnerException is FormatException or OverflowException)
            {
                v = null;
                return false;
            }
        };
    }

    private static ArgumentParser? Other(Type type)
    {
        if (type == typeof(DateTimeOffset))
        {
            return static (string s, out object? v) =>
                Result(DateTimeOffset.TryParse(s, Invariant, DateTimeStyles.AssumeUniversal | DateTimeStyles.AllowWhiteSpaces, out var x) ? x : null, true, out v);
        }

        if (type == typeof(DateOnly))
        {
            return static (string s, out object? v) => Result(DateOnly.TryParse(s, Invariant, DateTimeStyles.AllowWhiteSpaces, out var x) ? x : null, true, out v);
        }

        if (type == typeof(TimeOnly))
        {
            return static (string s, out object? v) => Result(TimeOnly.TryParse(s, Invariant, DateTimeStyles.AllowWhiteSpaces, out var x) ? x : null, true, out v);
        }

        if (type == typeof(Half))
        {
            return static (string s, out object? v) => Result(Half.TryParse(s, NumberStyles.Float | NumberStyles.AllowThousands, Invariant, out var x) ? x : null, true, out v);
        }

        if (type == typeof(nint))
        {
            return static (string s, out object? v) => Result(nint.TryParse(s, NumberStyles.Integer, Invariant, out var x) ? x : null, true, out v);
        }

        if (type == typeof(BigInteger))
        {
            return static (string s, out object? v) => Result(BigInteger.TryParse(s, NumberStyles.Integer, Invariant, out var x) ? x : null, true, out v);
        }

        if (type == typeof(nuint))
        {
            return static (string s, out object? v) => Result(nuint.TryParse(s, Invariant, out var x) ? x : null, true, out v);
        }

        if (type == typeof(Int128))
        {
            return static (string s, out object? v) => Result(Int128.TryParse(s, Invariant, out var x) ? x : null, true, out v);
        }

        if (type == typeof(UInt128))
        {
            return static (string s, out object? v) => Result(UInt128.TryParse(s, Invariant, out var x) ? x : null, true, out v);
        }

        if (type == typeof(TimeSpan))
        {
            return static (string s, out object? v) => Result(TimeSpan.TryParse(s, Invariant, out var x) ? x : null, true, out v);
        }

        if (type == typeof(Guid))
        {
            return static (string s, out object? v) => Result(Guid.TryParse(s, Invariant, out var x) ? x : null, true, out v);
        }

        return null;
    }

    /// <summary>
    /// Whether a decimal's key is exact: a key holds it without trailing zeros (<see cref="RcKey"/>), so that an entry is
    /// removed whatever scale the application invalidates it with; but the handler sees the scale (<c>1.50</c> prints
    /// as such), so one parsed with trailing zeros is answered without the cache rather than share <c>1.5</c>'s entry.
    /// </summary>
    internal static bool KeyedExactly(decimal value) => value.Scale == (value / 1.000000000000000000000000000000000m).Scale;

    private static bool Result(object? parsed, bool accepted, out object? value)
    {
        value = parsed;
        return accepted && parsed is not null;
    }
}
