using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace RcAspNet.Endpoints;

/// <summary>
/// One argument of an endpoint's key: which parameter it is, where the request holds it and under which name, and how
/// the binder parses it. Decided once, at start-up; read on every request before the handler is bound.
/// </summary>
internal sealed class KeyArgument(string parameter, ArgumentSource source, string name, ArgumentParser parse, Type? elementType, bool isList, bool optional, object? @default, bool modelBound = false)
{
    /// <summary>Gets whether MVC's model binding binds the argument (an action's or a page's), rather than a minimal API's binder.</summary>
    public bool ModelBound { get; } = modelBound;

    /// <summary>Gets the parameter's name, as tag templates refer to it.</summary>
    public string Parameter { get; } = parameter;

    public ArgumentSource Source { get; } = source;

    /// <summary>Gets the name of the value in the route, query string, headers or form.</summary>
    public string Name { get; } = name;

    /// <summary>
    /// Reads the argument as the binder will. False when the request holds a value the binder might read differently
    /// or refuse (empty, repeated where one is expected, unparsable): the request is then answered without the cache.
    /// </summary>
    public bool TryRead(HttpContext http, out object? value)
    {
        value = null;
        if (ModelBound && MayBindElsewhere(http.Request))
        {
            return false;
        }

        var values = ModelBound && elementType is not null && Source == ArgumentSource.Header
            ? new StringValues(http.Request.Headers.GetCommaSeparatedValues(Name)) // as MVC's header binder splits a list
            : Values(http);
        if (elementType is null)
        {
            if (values.Count == 0)
            {
                value = @default;
                return optional && (@default is not decimal declared || ArgumentParsers.KeyedExactly(declared));
            }

            return values.Count == 1 && !string.IsNullOrEmpty(values[0]) && parse(values[0]!, out value);
        }

        // Both binders bind a list that the request does not hold as an empty one, nullable or not.
        var items = Array.CreateInstance(elementType, values.Count);
        for (var i = 0; i < values.Count; i++)
        {
            if (string.IsNullOrEmpty(values[i]) || !parse(values[i]!, out var item))
            {
                return false;
            }

            items.SetValue(item, i);
        }

        value = isList ? Activator.CreateInstance(typeof(List<>).MakeGenericType(elementType), items) : items;
        return true;
    }

    /// <summary>
    /// Whether MVC's model binding may bind this list argument from query names the key does not read: indexed ones
    /// (<c>ids[0]</c>, <c>ids[]</c>, <c>ids.index</c>), or ones without a prefix (<c>[0]</c>), which it binds when the
    /// query holds none under the argument's name. (A GET's form is the endpoint's business: <see cref="CachedEndpointPolicy"/>.)
    /// </summary>
    private bool MayBindElsewhere(HttpRequest request)
    {
        // The query's names are looked at only when its text could hold such a name (raw or percent-encoded).
        if (elementType is null || Source is not (ArgumentSource.Query or ArgumentSource.RouteThenQuery)
            || request.QueryString.Value is not { } text || text.AsSpan().IndexOfAny('[', '.', '%') < 0)
        {
            return false;
        }

        foreach (var (query, _) in request.Query)
        {
            if (query.StartsWith('[')
                || (query.Length > Name.Length && query.StartsWith(Name, StringComparison.OrdinalIgnoreCase) && query[Name.Length] is '[' or '.'))
            {
                return true;
            }
        }

        return false;
    }

    private StringValues Values(HttpContext http) => Source switch
    {
        ArgumentSource.Route => RouteValue(http),
        ArgumentSource.Query => http.Request.Query[Name],
        ArgumentSource.Header => http.Request.Headers[Name],
        ArgumentSource.Form => http.Request.HasFormContentType ? http.Request.Form[Name] : StringValues.Empty,
        _ => RouteValue(http) is { Count: > 0 } route ? route : http.Request.Query[Name],
    };

    private StringValues RouteValue(HttpContext http) =>
        http.Request.RouteValues.TryGetValue(Name, out var value) && value is not null ? Convert.ToString(value, CultureInfo.InvariantCulture) : StringValues.Empty;
}
