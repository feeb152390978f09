using Microsoft.Extensions.DependencyInjection;

namespace RcAspNet.Tests.Infrastructure;

/// <summary>
/// A suite of app instances ("nodes") that share one store and the test's namespace, each a service provider of its
/// own, disposed with the test. On the memory store, which belongs to one process, every node is the first.
/// </summary>
public abstract class StoreNodesTest : IAsyncLifetime
{
    private readonly List<ServiceProvider> _nodes = [];

    protected string Ns { get; } = SharedRedis.UniqueNamespace();

    /// <summary>Gets whether other app instances share the store; the memory store belongs to one, so every "node" is that one.</summary>
    protected virtual bool HasOtherNodes => true;

    /// <summary>Gets the nodes made so far, in order.</summary>
    protected IReadOnlyList<ServiceProvider> Nodes => _nodes;

    /// <summary>Gets what points a node at the store, once the test is initialized.</summary>
    protected Action<RcOptions> Store { get; private set; } = null!;

    public virtual async Task InitializeAsync() => Store = await StoreAsync();

    public async Task DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }
    }

    protected abstract Task<Action<RcOptions>> StoreAsync();

    /// <summary>The suite's own settings of every node, after the store's and the namespace.</summary>
    protected abstract void Configure(RcOptions options);

    /// <summary>Makes a node whose clock is <paramref name="clock"/> (the system's when null), and keeps it for disposal.</summary>
    protected ServiceProvider AddNode(TimeProvider? clock = null)
    {
        var node = TestServices.Build(
            o =>
            {
                Store(o);
                o.Namespace = Ns;
                Configure(o);
            },
            s =>
            {
                if (clock is not null)
                {
                    s.AddSingleton(clock);
                }
            });
        _nodes.Add(node);
        return node;
    }
}
