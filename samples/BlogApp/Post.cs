using System.ComponentModel.DataAnnotations;
using System.Text.Json.Serialization;

namespace BlogApp;

/// <summary>rc's tutorial model: a post with a title, content and Unix-second timestamps.</summary>
public sealed class Post
{
    public int Id { get; set; }

    [MaxLength(100)]
    public required string Title { get; set; }

    public required string Content { get; set; }

    public long CreatedTs { get; set; }

    public long UpdatedTs { get; set; }
}

/// <summary>What the cache holds for a post: the dict rc's tutorial caches, with its snake_case names.</summary>
public sealed record PostView(
    [property: JsonPropertyName("id")] int Id,
    [property: JsonPropertyName("title")] string Title,
    [property: JsonPropertyName("content")] string Content,
    [property: JsonPropertyName("created_ts")] long CreatedTs,
    [property: JsonPropertyName("updated_ts")] long UpdatedTs)
{
    public static PostView From(Post post) => new(post.Id, post.Title, post.Content, post.CreatedTs, post.UpdatedTs);
}
