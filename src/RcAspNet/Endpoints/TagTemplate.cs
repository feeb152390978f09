using System.Text;

namespace RcAspNet.Endpoints;

/// <summary>
/// A tag of <c>[RcCached(Tags = ...)]</c>: fixed text, or text with <c>{parameter}</c> placeholders that take the value
/// of a key argument (<c>post:{id}</c> is <c>post:42</c> for id 42). Parsed once, at start-up.
/// </summary>
internal sealed class TagTemplate
{
    private readonly (string Text, int Argument)[] _parts;

    private TagTemplate((string Text, int Argument)[] parts) => _parts = parts;

    public bool IsFixed => _parts.All(static p => p.Argument < 0);

    /// <summary>Parses <paramref name="template"/> against the endpoint's key arguments, or explains what is wrong with it.</summary>
    public static TagTemplate Parse(string template, IReadOnlyList<string> arguments, out string? error)
    {
        error = null;
        var parts = new List<(string, int)>();
        var rest = template.AsSpan();
        while (rest.Length > 0)
        {
            var open = rest.IndexOf('{');
            if (open < 0)
            {
                parts.Add((rest.ToString(), -1));
                break;
            }

            var close = rest[open..].IndexOf('}');
            if (close < 0)
            {
                error = $"the tag '{template}' opens a placeholder it does not close.";
                return new TagTemplate([]);
            }

            var name = rest.Slice(open + 1, close - 1).ToString();
            var index = arguments.ToList().FindIndex(a => string.Equals(a, name, StringComparison.OrdinalIgnoreCase));
            if (index < 0)
            {
                error = $"the tag '{template}' names '{{{name}}}', which is not one of its key arguments ({string.Join(", ", arguments)}).";
                return new TagTemplate([]);
            }

            if (open > 0)
            {
                parts.Add((rest[..open].ToString(), -1));
            }

            parts.Add(("", index));
            rest = rest[(open + close + 1)..];
        }

        if (template.Length == 0 || template.Any(char.IsWhiteSpace))
        {
            error = $"the tag '{template}' is empty or holds whitespace.";
        }

        return new TagTemplate([.. parts]);
    }

    /// <summary>The tag for one request's key arguments: strings as they are, other values in their key form.</summary>
    /// <remarks>Built in <paramref name="tag"/>, which it clears first.</remarks>
    public string Format(object?[] values, StringBuilder tag)
    {
        tag.Clear();
        foreach (var (text, argument) in _parts)
        {
            if (argument < 0)
            {
                tag.Append(text);
            }
            else if (values[argument] is string s)
            {
                tag.Append(s);
            }
            else
            {
                RcKey.Append(tag, values[argument]);
            }
        }

        return tag.ToString();
    }
}
