namespace BlogApp;

/// <summary>The add and update forms' fields, and the tutorial's rules for them.</summary>
public sealed record PostForm(string? Title, string? Content)
{
    public const int MaxTitleLength = 100;

    /// <summary>Returns why the form is refused, or null when it is valid.</summary>
    public string? Error() =>
        string.IsNullOrWhiteSpace(Title) ? "A title is required."
        : Title.Length > MaxTitleLength ? $"A title has at most {MaxTitleLength} characters."
        : string.IsNullOrWhiteSpace(Content) ? "Content is required."
        : null;
}
