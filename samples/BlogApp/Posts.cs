using Microsoft.EntityFrameworkCore;
using RcAspNet;

namespace BlogApp;

/// <summary>
/// The tutorial's <c>Post.get_all_ids</c>, <c>Post.get_by_id</c>, <c>Post.add</c> and <c>Post.update</c>: reads go
/// through the cache, writes go to the database and then invalidate what they changed, by tag. Every cached thing
/// about post 7, here and in the pages cache ([RcCached] on the post page and the API), carries the tag <c>post:7</c>;
/// every list of posts carries <c>posts</c>.
/// </summary>
public sealed class Posts(BlogDb db, IRcCache cache, [FromKeyedServices("pages")] IRcCache pages, IRcBatch batch, TimeProvider time)
{
    /// <summary>The tag of every list of posts.</summary>
    public const string ListTag = "posts";

    private static readonly RcEntryOptions ListOptions = new() { Tags = [ListTag] };

    /// <summary><c>@cache.cache() def get_all_ids()</c>.</summary>
    public ValueTask<List<int>> GetAllIdsAsync(CancellationToken cancellationToken) =>
        cache.GetOrSetAsync(RcKey.For("Post.GetAllIds"), async ct => await db.Posts.OrderBy(p => p.Id).Select(p => p.Id).ToListAsync(ct), ListOptions, cancellationToken);

    /// <summary><c>@cache.cache() def get_by_id(post_id)</c>; a missing post is null, which Rc:BypassValues keeps out of the cache.</summary>
    public ValueTask<PostView?> GetByIdAsync(int id, CancellationToken cancellationToken) =>
        cache.GetOrSetAsync(RcKey.For("Post.GetById", id), async ct => await db.Posts.Where(p => p.Id == id).Select(p => PostView.From(p)).SingleOrDefaultAsync(ct), PostOptions(id), cancellationToken);

    /// <summary>The tag of everything cached about one post.</summary>
    public static string PostTag(int id) => $"post:{id}";

    /// <summary>
    /// <c>with cache.batch_mode(): ... get_by_id(post_id)</c>: queues the lookup of every post on the request's batch.
    /// One flush reads them all with one MGET per shard; the misses are loaded by one SQL query.
    /// </summary>
    public async Task<List<PostView>> GetManyAsync(IEnumerable<int> ids, CancellationToken cancellationToken)
    {
        var handles = ids.Select(id => batch.Load<int, PostView?>("Post.GetById", id, LoadAsync, PostOptions(id))).ToList();
        await batch.FlushAsync(cancellationToken);
        return [.. handles.Select(h => h.Value).OfType<PostView>()];
    }

    public async Task<int> AddAsync(string title, string content, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().ToUnixTimeSeconds();
        var post = new Post { Title = title, Content = content, CreatedTs = now, UpdatedTs = now };
        db.Posts.Add(post);
        await db.SaveChangesAsync(cancellationToken);
        await InvalidateAsync(ListTag, cancellationToken);
        return post.Id;
    }

    /// <summary>Updates a post; false when there is none.</summary>
    public async Task<bool> UpdateAsync(int id, string title, string content, CancellationToken cancellationToken)
    {
        var post = await db.Posts.FindAsync([id], cancellationToken);
        if (post is null)
        {
            return false;
        }

        post.Title = title;
        post.Content = content;
        post.UpdatedTs = time.GetUtcNow().ToUnixTimeSeconds();
        await db.SaveChangesAsync(cancellationToken);

        // The post's data and its responses (the page, its JSON), then the lists that show its title.
        await InvalidateAsync(PostTag(id), cancellationToken);
        await InvalidateAsync(ListTag, cancellationToken);
        return true;
    }

    /// <summary>A tag belongs to a cache's namespace: the data cache and the pages cache each drop what carries it.</summary>
    private async Task InvalidateAsync(string tag, CancellationToken cancellationToken)
    {
        await cache.InvalidateTagAsync(tag, cancellationToken);
        await pages.InvalidateTagAsync(tag, cancellationToken);
    }

    private static RcEntryOptions PostOptions(int id) => new() { Tags = [PostTag(id)] };

    private async ValueTask<IReadOnlyDictionary<int, PostView?>> LoadAsync(IReadOnlyList<int> ids, CancellationToken cancellationToken) =>
        await db.Posts.Where(p => ids.Contains(p.Id)).Select(p => PostView.From(p)).ToDictionaryAsync(p => p.Id, p => (PostView?)p, cancellationToken);
}
