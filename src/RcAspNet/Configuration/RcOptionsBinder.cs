using System.ComponentModel;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;

namespace RcAspNet.Configuration;

/// <summary>
/// Binds the <c>Rc</c> section without letting one bad setting hide the others: every value is checked against the
/// shape of <see cref="RcOptions"/> first, an unknown setting or a value of the wrong kind becomes an error that names
/// its path and what is allowed, and the remaining settings are bound. The validator reports all errors at once.
/// </summary>
internal static partial class RcOptionsBinder
{
    // The option types the binder creates by reflection (ConfigurationBinder, and AddDefaultElements for an empty one).
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicParameterlessConstructor | DynamicallyAccessedMemberTypes.PublicProperties, typeof(RcShardOptions))]
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicParameterlessConstructor | DynamicallyAccessedMemberTypes.PublicProperties, typeof(RcNamedCacheOptions))]
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicParameterlessConstructor | DynamicallyAccessedMemberTypes.PublicProperties, typeof(RcNearCacheOptions))]
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicParameterlessConstructor | DynamicallyAccessedMemberTypes.PublicProperties, typeof(RcFailSafeOptions))]
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicParameterlessConstructor, typeof(List<string>))]
    public static void Bind(IConfiguration configuration, RcOptions options)
    {
        var path = configuration is IConfigurationSection section ? section.Path : RcOptions.SectionName;
        options.ConfigurationPath = path;
        var accepted = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var empty = new List<string>();
        foreach (var (key, value) in configuration.AsEnumerable(makePathsRelative: true))
        {
            if (key.Length == 0 || (string.IsNullOrEmpty(value) && configuration.GetSection(key).GetChildren().Any()))
            {
                // The section itself, or a section with settings under it (some providers give it an empty value).
                continue;
            }

            var segments = key.Split(ConfigurationPath.KeyDelimiter);
            var error = value is null ? Resolve(segments).Error : Check(segments, value);
            if (error is not null)
            {
                options.BindingErrors.Add($"{path}:{key}: {error}");
                continue;
            }

            if (string.IsNullOrEmpty(value))
            {
                // An empty JSON object (or JSON's null, which IConfiguration cannot tell from it, or an empty variable):
                // no value and no children. As a shard or a named cache it is one with every default, as rc's {} is;
                // the binder alone would leave it out.
                empty.Add(key);
            }

            if (value is not null)
            {
                accepted[key] = value;
            }
        }

        new ConfigurationBuilder().AddInMemoryCollection(accepted).Build().Bind(options);
        foreach (var key in empty)
        {
            AddDefaultElements(options, key.Split(ConfigurationPath.KeyDelimiter));
        }
    }

    /// <summary>
    /// Adds the dictionary elements on <paramref name="segments"/>, a path that names a setting (shards, named caches),
    /// that binding left out, each with every default; and a list or section it ends with that is still unset (a named
    /// cache's <c>BypassValues</c> or <c>FailSafe</c>), empty or with every default.
    /// </summary>
    [UnconditionalSuppressMessage("Trimming", "IL2072", Justification = "The option types' constructors are kept by the DynamicDependency attributes on Bind.")]
    private static void AddDefaultElements(RcOptions options, string[] segments)
    {
        object? current = options;
        for (var i = 0; i < segments.Length; i++)
        {
            var segment = segments[i];
            if (current is System.Collections.IDictionary dictionary && Element(current.GetType(), typeof(Dictionary<,>)) is { IsValueType: false } element && element != typeof(string))
            {
                current = dictionary.Contains(segment) ? dictionary[segment] : dictionary[segment] = Activator.CreateInstance(element);
            }
            else
            {
                var setting = current is null ? null : Setting(current.GetType(), segment);
                var next = setting?.GetValue(current);
                if (next is null && i == segments.Length - 1 && setting is { CanWrite: true, PropertyType: { IsValueType: false } type } && type != typeof(string))
                {
                    // A named cache's "BypassValues": [] (none) or "FailSafe": {} (every default), not left unset,
                    // which would take the default cache's.
                    next = Activator.CreateInstance(type);
                    setting.SetValue(current, next);
                }

                current = next;
            }
        }
    }

    private static PropertyInfo? Setting(Type type, string name) =>
        Settings(type).FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>Returns why a value cannot be bound at <paramref name="segments"/>, or <see langword="null"/> when it can.</summary>
    private static string? Check(string[] segments, string value)
    {
        var (type, error, nullable) = Resolve(segments);

        // An empty value (an empty environment variable) unsets a nullable setting that another source set.
        return error ?? (nullable && value.Length == 0 ? null : CheckValue(type!, value));
    }

    /// <summary>The type of the setting that <paramref name="segments"/> names (and whether it may be unset), or why they name none.</summary>
    private static (Type? Type, string? Error, bool Nullable) Resolve(string[] segments)
    {
        var type = typeof(RcOptions);
        var nullable = false;
        for (var i = 0; i < segments.Length; i++)
        {
            if (Element(type, typeof(Dictionary<,>)) is { } dictionaryValue)
            {
                type = dictionaryValue;
            }
            else if (Element(type, typeof(List<>)) is { } listItem)
            {
                if (!int.TryParse(segments[i], NumberStyles.None, CultureInfo.InvariantCulture, out _))
                {
                    return (null, "a list takes items numbered 0, 1, 2...", false);
                }

                type = listItem;
            }
            else if (type == typeof(string) || type.IsPrimitive || type.IsEnum || type == typeof(TimeSpan))
            {
                return (null, $"'{segments[i]}' is not a setting here: {segments[i - 1]} takes a value, not a section.", false);
            }
            else
            {
                var property = Setting(type, segments[i]);
                if (property is null)
                {
                    return (null, $"'{segments[i]}' is not a setting here; the settings are {string.Join(", ", Settings(type).Select(static p => p.Name))}.", false);
                }

                var underlying = Nullable.GetUnderlyingType(property.PropertyType);
                nullable = underlying is not null;
                type = underlying ?? property.PropertyType;
                continue;
            }

            nullable = false;
        }

        return (type, null, nullable);
    }

    private static string? CheckValue(Type type, string value)
    {
        if (type == typeof(string))
        {
            return null;
        }

        if (type.IsEnum)
        {
            return Enum.GetNames(type).Any(n => string.Equals(n, value.Trim(), StringComparison.OrdinalIgnoreCase))
                ? null
                : $"'{value}' is not allowed; use one of {string.Join(", ", Enum.GetNames(type))}.";
        }

        if (type == typeof(TimeSpan) && value.Length > 0 && !DurationShape().IsMatch(value))
        {
            // TimeSpan's converter reads a bare number, and hours past 23, as days: "250" would be 250 days.
            return Describe(type, value);
        }

        if (!type.IsPrimitive && type != typeof(TimeSpan))
        {
            // Some providers give a section an empty value beside its children; only a real value is wrong.
            return value.Length == 0 ? null : "this setting is a section, not a value.";
        }

        try
        {
            var converted = TypeDescriptor.GetConverter(type).ConvertFromInvariantString(value);
            return converted is null ? Describe(type, value) : null;
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException or NotSupportedException or OverflowException)
        {
            return Describe(type, value);
        }
    }

    private static string Describe(Type type, string value) => type == typeof(TimeSpan)
        ? $"'{value}' is not a duration; write [d.]hh:mm[:ss[.fffffff]], hours 0 to 23, such as 00:00:00.250 or 3.00:00:00 (TimeSpan would read a bare number, or 24:00:00, as days)."
        : type == typeof(bool)
            ? $"'{value}' is not true or false."
            : type == typeof(double)
                ? $"'{value}' is not a number; write it with a dot, such as 0.8."
                : $"'{value}' is not a whole number.";

    /// <summary>A duration as appsettings.schema.json writes it, a sign allowed (the validator names a negative one).</summary>
    [GeneratedRegex(@"^\s*-?(\d{1,8}\.)?([01]?\d|2[0-3]):[0-5]?\d(:[0-5]?\d(\.\d{1,7})?)?\s*$", RegexOptions.CultureInvariant)]
    private static partial Regex DurationShape();

    private static Type? Element(Type type, Type generic)
    {
        if (!type.IsGenericType || type.GetGenericTypeDefinition() != generic)
        {
            return null;
        }

        return type.GetGenericArguments()[^1];
    }

    [UnconditionalSuppressMessage("Trimming", "IL2070", Justification = "RcOptions and its nested option types are rooted by the library.")]
    internal static IEnumerable<PropertyInfo> Settings(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(static p => p.GetMethod?.IsPublic == true && p.GetIndexParameters().Length == 0);
}
