namespace BlogApp;

/// <summary>Writes numbered posts until there are <c>Blog:SeedPosts</c> of them (0 by default), for demos and load tests.</summary>
public static class Seed
{
    public static async Task RunAsync(BlogDb db, int count)
    {
        var existing = db.Posts.Count();
        if (existing >= count)
        {
            return;
        }

        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        for (var i = existing + 1; i <= count; i++)
        {
            db.Posts.Add(new Post { Title = $"Post {i}", Content = $"The content of post {i}.", CreatedTs = now, UpdatedTs = now });
        }

        await db.SaveChangesAsync();
    }
}
