using Microsoft.EntityFrameworkCore;

namespace BlogApp;

public sealed class BlogDb(DbContextOptions<BlogDb> options) : DbContext(options)
{
    public DbSet<Post> Posts => Set<Post>();
}
