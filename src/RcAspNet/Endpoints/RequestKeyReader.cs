using System.Globalization;
using System.Reflection;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.Extensions.Primitives;

namespace RcAspNet.Endpoints;

/// <summary>
/// Reads a minimal-API endpoint's key arguments straight from the request (route values, query string, headers),
/// parsed as the framework binds them, so that a hit is answered before parameter binding and the handler's services
/// are built. It only reads what it can read exactly as the binder would (strings, integers, booleans, Guids, arrays
/// of them); for any other argument, or any value it is unsure of, it declines and the endpoint filter does the work.
/// A key it builds is the key the filter builds for the same request.
/// </summary>
internal sealed class RequestKeyReader
{
    private readonly Source[] _sources;

    private RequestKeyReader(Source[] sources) => _sources = sources;

    /// <summary>Returns a reader for the keyed parameters, or null when one of them cannot be read before binding.</summary>
    public static RequestKeyReader? Create(MethodInfo method, IReadOnlyList<int> keyed, RoutePattern? pattern)
    {
        var parameters = method.GetParameters();
        var nullability = new NullabilityInfoContext();
        var sources = new Source[keyed.Count];
        for (var i = 0; i < keyed.Count; i++)
        {
            var parameter = parameters[keyed[i]];
            var type = Nullable.GetUnderlyingType(parameter.ParameterType) ?? parameter.ParameterType;
            var element = type.IsArray ? type.GetElementType()! : type;
            if (Parser(element) is not { } parse || parameter.IsDefined(typeof(FromFormAttribute)))
            {
                return null;
            }

            var (kind, name) = parameter.GetCustomAttribute<FromRouteAttribute>() is { } route ? (Kind.Route, route.Name ?? parameter.Name!)
                : parameter.GetCustomAttribute<FromQueryAttribute>() is { } query ? (Kind.Query, query.Name ?? parameter.Name!)
                : parameter.GetCustomAttribute<FromHeaderAttribute>() is { } header ? (Kind.Header, header.Name ?? parameter.Name!)
                : pattern?.GetParameter(parameter.Name!) is not null ? (Kind.Route, parameter.Name!)
                : (Kind.Query, parameter.Name!);
            if (type.IsArray && kind != Kind.Query)
            {
                return null;
            }

            var optional = parameter.HasDefaultValue || Nullable.GetUnderlyingType(parameter.ParameterType) is not null
                || (!parameter.ParameterType.IsValueType && nullability.Create(parameter).WriteState == NullabilityState.Nullable);
            sources[i] = new Source(kind, name, parse, type.IsArray ? element : null, optional, parameter.HasDefaultValue ? parameter.DefaultValue : null);
        }

        return new RequestKeyReader(sources);
    }

    /// <summary>Appends the arguments' key forms; false when the request holds a value this reader will not vouch for.</summary>
    public bool TryAppend(HttpContext http, StringBuilder key)
    {
        foreach (var source in _sources)
        {
            var values = source.Kind switch
            {
                Kind.Route => http.Request.RouteValues.TryGetValue(source.Name, out var value) && value is string text ? new StringValues(text) : StringValues.Empty,
                Kind.Query => http.Request.Query[source.Name],
                _ => http.Request.Headers[source.Name],
            };

            object? argument;
            if (values.Count == 0)
            {
                if (!source.Optional)
                {
                    return false;
                }

                argument = source.Default;
            }
            else if (source.ArrayOf is { } element)
            {
                var array = Array.CreateInstance(element, values.Count);
                for (var i = 0; i < values.Count; i++)
                {
                    if (string.IsNullOrEmpty(values[i]) || source.Parse(values[i]!) is not { } item)
                    {
                        return false;
                    }

                    array.SetValue(item, i);
                }

                argument = array;
            }
            else if (values.Count != 1 || string.IsNullOrEmpty(values[0]) || source.Parse(values[0]!) is not { } parsed)
            {
                return false;
            }
            else
            {
                argument = parsed;
            }

            RcKey.Append(key.Append(' '), argument);
        }

        return true;
    }

    private static Func<string, object?>? Parser(Type type) =>
        type == typeof(string) ? static s => s
        : type == typeof(int) ? static s => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null
        : type == typeof(long) ? static s => long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null
        : type == typeof(bool) ? static s => bool.TryParse(s, out var v) ? v : null
        : type == typeof(Guid) ? static s => Guid.TryParse(s, out var v) ? v : null
        : null;

    private enum Kind
    {
        Route,
        Query,
        Header,
    }

    private sealed record Source(Kind Kind, string Name, Func<string, object?> Parse, Type? ArrayOf, bool Optional, object? Default);
}
