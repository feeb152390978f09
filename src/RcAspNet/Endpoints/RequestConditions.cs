using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace RcAspNet.Endpoints;

/// <summary>
/// A request's conditions and range (<c>If-None-Match</c>, <c>If-Modified-Since</c>, <c>If-Match</c>,
/// <c>If-Unmodified-Since</c>, <c>If-Range</c>, <c>Range</c>), which a render of an entry hides from its handler: the
/// entry is rendered whole, and answers them itself.
/// </summary>
internal static class RequestConditions
{
    private static readonly string[] Names =
        [HeaderNames.IfNoneMatch, HeaderNames.IfModifiedSince, HeaderNames.IfMatch, HeaderNames.IfUnmodifiedSince, HeaderNames.IfRange, HeaderNames.Range];

    public static bool IsCondition(string name) => Array.Exists(Names, n => n.Equals(name, StringComparison.OrdinalIgnoreCase));

    /// <summary>Removes the request's conditions from <paramref name="headers"/>, and returns them (null when it has none).</summary>
    public static List<KeyValuePair<string, StringValues>>? Take(IHeaderDictionary headers)
    {
        List<KeyValuePair<string, StringValues>>? taken = null;
        foreach (var name in Names)
        {
            if (headers.TryGetValue(name, out var value))
            {
                (taken ??= []).Add(new(name, value));
                headers.Remove(name);
            }
        }

        return taken;
    }

    /// <summary>Puts back what <see cref="Take"/> removed.</summary>
    public static void PutBack(IHeaderDictionary headers, List<KeyValuePair<string, StringValues>>? taken)
    {
        foreach (var (name, value) in taken ?? [])
        {
            headers[name] = value;
        }
    }
}
