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

        return html.Append("</ul>\n").Append(Foot).ToString();
    }

    /// <summary>
    /// The post page. [RcCached] shares it with every visitor, and an antiforgery token belongs to one, so the page
    /// carries none: its form asks /antiforgery for the visitor's own token before it is sent.
    /// </summary>
    public static string Post(PostView post)
    {
        var html = Head(post.Title)
            .Append($"<h1>{E(post.Title)}</h1>\n<p>{E(post.Content)}</p>\n")
            .Append($"<form action=\"/post/{post.Id}\" method=\"post\" data-antiforgery>\n")
            .Append("<input type=\"hidden\" name=\"__RequestVerificationToken\" value=\"\">\n");
        Fields(html, null, null, "Update");
        return html.Append("</form>\n").Append(FetchToken).Append(Foot).ToString();
    }

    /// <summary>The post form again, with what was typed and why it was refused (not cached: it is one visitor's).</summary>
    public static string EditPost(PostView post, AntiforgeryTokenSet token, string error, string? title, string? content)
    {
        var html = Head(post.Title).Append($"<h1>{E(post.Title)}</h1>\n<p>{E(post.Content)}</p>\n");
        Error(html, error);
        html.Append($"<form action=\"/post/{post.Id}\" method=\"post\">\n");
        Token(html, token);
        Fields(html, title, content, "Update");
        return html.Append("</form>\n").Append(Foot).ToString();
    }

    public static string NotFound() => Head("Not found").Append("<h1>Not found</h1>\n<p><a href=\"/\">All posts</a></p>\n").Append(Foot).ToString();

    private const string Foot = "</body>\n</html>\n";

    private const string FetchToken = """
        <script>
        for (const form of document.querySelectorAll("form[data-antiforgery]")) {
          form.addEventListener("submit", async event => {
            event.preventDefault();
            const token = await (await fetch("/antiforgery", { credentials: "same-origin" })).json();
            form.elements[token.field].value = token.value;
            form.submit();
          });
        }
        </script>

        """;

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
