using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Antiforgery;

namespace BlogApp;

/// <summary>The tutorial's two templates. Every user-supplied string is HTML-encoded.</summary>
public static class Pages
{
    public static string Index(IEnumerable<PostView> posts, AntiforgeryTokenSet token, string? error = null, string? title = null, string? content = null)
    {
        var html = Head("Blog").Append("<h1>Blog</h1>\n");
        Error(html, error);
        html.Append("<form action=\"/add\" method=\"post\">\n");
        Token(html, token);
        Fields(html, title, content, "Post");
        html.Append("</form>\n<ul>\n");
        foreach (var post in posts)
        {
            html.Append($"  <li><a href=\"/post/{post.Id}\">{E(post.Title)}</a></li>\n");
        }

        return html.Append("</ul>\n<p><a href=\"/stats\">Cache statistics</a></p>\n").Append(Foot).ToString();
    }

    /// <summary>
    /// The post page. [RcCached] shares it with every visitor, and an antiforgery token belongs to one, so the page
    /// carries no form: it links to the visitor's own edit page.
    /// </summary>
    public static string Post(PostView post) => Head(post.Title)
        .Append($"<h1>{E(post.Title)}</h1>\n<p>{E(post.Content)}</p>\n")
        .Append($"<p><a href=\"/post/{post.Id}/edit\">Edit</a> · <a href=\"/\">All posts</a></p>\n")
        .Append(Foot).ToString();

    /// <summary>The edit form of one visitor, with that visitor's antiforgery token (never cached); after a refusal, with what was typed and why.</summary>
    public static string EditPost(PostView post, AntiforgeryTokenSet token, string? error = null, string? title = null, string? content = null)
    {
        var html = Head($"Edit: {post.Title}").Append($"<h1>Edit: {E(post.Title)}</h1>\n");
        Error(html, error);
        html.Append($"<form action=\"/post/{post.Id}\" method=\"post\">\n");
        Token(html, token);
        Fields(html, title ?? post.Title, content ?? post.Content, "Update");
        return html.Append("</form>\n").Append($"<p><a href=\"/post/{post.Id}\">Back to the post</a></p>\n").Append(Foot).ToString();
    }

    /// <summary>
    /// The caches' figures as small bar charts: the hit ratio of each cache and the answers it served stale, and each
    /// shard's round trips, errors and kept removals.
    /// </summary>
    public static string Stats(CacheStats.Snapshot stats)
    {
        var html = Head("Cache statistics").Append("<h1>Cache statistics</h1>\n");
        html.Append("<h2>Hit ratio by cache</h2>\n");
        Chart(html, "hit-ratio", [.. stats.Caches.Select(static c => (c.Cache, c.HitRatio, string.Create(CultureInfo.InvariantCulture, $"{c.HitRatio * 100:0}% ({c.Hits} hits, {c.Misses} misses)")))]);

        // Fail-safe: what each cache answered with its last value while what renders it failed, and why.
        var stale = Math.Max(1, stats.Caches.Select(static c => c.Stale).DefaultIfEmpty().Max());
        html.Append("<h2>Served stale by cache (fail-safe)</h2>\n");
        Chart(html, "served-stale", [.. stats.Caches.Select(c => (c.Cache, (double)c.Stale / stale, StaleText(c)))]);
        var trips = Math.Max(1, stats.Shards.Select(static s => s.RoundTrips).DefaultIfEmpty().Max());
        html.Append("<h2>Store round trips by shard</h2>\n");
        Chart(html, "round-trips", [.. stats.Shards.Select(s => (s.Shard, (double)s.RoundTrips / trips, $"{s.RoundTrips}"))]);
        var errors = Math.Max(1, stats.Shards.Select(static s => s.Errors).DefaultIfEmpty().Max());
        html.Append("<h2>Errors by shard</h2>\n");
        Chart(html, "errors", [.. stats.Shards.Select(s => (s.Shard, (double)s.Errors / errors, $"{s.Errors}"))]);
        var pending = Math.Max(1, stats.Shards.Select(static s => s.PendingRemovals).DefaultIfEmpty().Max());
        html.Append("<h2>Removals kept for a shard that could not be reached</h2>\n");
        Chart(html, "pending-removals", [.. stats.Shards.Select(s => (s.Shard, (double)s.PendingRemovals / pending, $"{s.PendingRemovals}"))]);
        return html.Append("<p><a href=\"/\">All posts</a></p>\n").Append(Foot).ToString();
    }

    /// <summary>How many answers a cache served stale, then how many for each reason: <c>3 (factory_failed 1, throttled 2)</c>.</summary>
    private static string StaleText(CacheStats.CacheLine cache) => cache.StaleByReason.Count == 0
        ? "0"
        : string.Create(CultureInfo.InvariantCulture, $"{cache.Stale} ({string.Join(", ", cache.StaleByReason.Select(static s => $"{s.Reason} {s.Count}"))})");

    /// <summary>A horizontal bar per line: its label, a bar as long as its share (0 to 1), and its figure in words.</summary>
    private static void Chart(StringBuilder html, string id, (string Label, double Share, string Text)[] lines)
    {
        if (lines.Length == 0)
        {
            html.Append($"<p id=\"{id}\">Nothing yet.</p>\n");
            return;
        }

        const int Row = 24;
        html.Append($"<svg id=\"{id}\" role=\"img\" width=\"560\" height=\"{lines.Length * Row}\" xmlns=\"http://www.w3.org/2000/svg\">\n");
        for (var i = 0; i < lines.Length; i++)
        {
            var (label, share, text) = lines[i];
            var y = i * Row;
            var width = (int)Math.Round(Math.Clamp(share, 0, 1) * 300);
            html.Append(CultureInfo.InvariantCulture, $"  <g><title>{E(label)}: {E(text)}</title>")
                .Append($"<text x=\"0\" y=\"{y + 16}\" font-size=\"13\">{E(label)}</text>")
                .Append($"<rect x=\"130\" y=\"{y + 4}\" width=\"{width}\" height=\"16\" fill=\"#3b7dd8\"/>")
                .Append($"<text x=\"{138 + width}\" y=\"{y + 16}\" font-size=\"13\">{E(text)}</text></g>\n");
        }

        html.Append("</svg>\n");
    }

    public static string NotFound() => Head("Not found").Append("<h1>Not found</h1>\n<p><a href=\"/\">All posts</a></p>\n").Append(Foot).ToString();

    private const string Foot = "</body>\n</html>\n";

    private static StringBuilder Head(string title) =>
        new StringBuilder("<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n").Append($"<title>{E(title)}</title>\n</head>\n<body>\n");

    private static void Error(StringBuilder html, string? error)
    {
        if (error is not null)
        {
            html.Append($"<p class=\"error\" role=\"alert\">{E(error)}</p>\n");
        }
    }

    private static void Token(StringBuilder html, AntiforgeryTokenSet token) =>
        html.Append($"<input type=\"hidden\" name=\"{E(token.FormFieldName)}\" value=\"{E(token.RequestToken ?? "")}\">\n");

    private static void Fields(StringBuilder html, string? title, string? content, string submit) => html
        .Append("<dl>\n")
        .Append($"  <dt><label for=\"title\">Title:</label></dt>\n  <dd><input type=\"text\" size=\"50\" id=\"title\" name=\"title\" value=\"{E(title ?? "")}\"></dd>\n")
        .Append($"  <dt><label for=\"content\">Content:</label></dt>\n  <dd><textarea id=\"content\" name=\"content\" rows=\"5\" cols=\"40\">{E(content ?? "")}</textarea></dd>\n")
        .Append($"  <dd><input type=\"submit\" value=\"{submit}\"></dd>\n")
        .Append("</dl>\n");

    private static string E(string text) => HtmlEncoder.Default.Encode(text);
}
