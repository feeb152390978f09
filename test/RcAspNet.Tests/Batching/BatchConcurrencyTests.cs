using System.Globalization;
using System.Threading.Channels;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using RcAspNet.Tests.Infrastructure;

namespace RcAspNet.Tests.Batching;

/// <summary>
/// Rc:BatchConcurrency, read from configuration, bounds the single loaders of one flush that run at once. Each loader
/// waits until the test releases it, so what runs together is counted, never timed.
/// </summary>
public sealed class BatchConcurrencyTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private static ServiceProvider FromConfiguration(int batchConcurrency)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Rc:BatchConcurrency"] = batchConcurrency.ToString(CultureInfo.InvariantCulture),
                ["Rc:Namespace"] = SharedRedis.UniqueNamespace(),
            })
            .Build();
        var provider = new ServiceCollection().AddRcCache(configuration).BuildServiceProvider(new ServiceProviderOptions { ValidateScopes = true, ValidateOnBuild = true });
        Assert.Equal(batchConcurrency, provider.GetRequiredService<IOptions<RcOptions>>().Value.BatchConcurrency);
        return provider;
    }

    [Fact]
    public async Task BatchConcurrencyOne_RunsOneSingleLoaderAtATime()
    {
        await using var services = FromConfiguration(1);
        await using var scope = services.CreateAsyncScope();
        var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
        var loaders = new GatedLoaders();
        var promises = Enumerable.Range(0, 5).Select(i => batch.Load($"one:{i}", t => loaders.LoadAsync(i, t))).ToArray();
        var flush = batch.FlushAsync();

        for (var i = 0; i < promises.Length; i++)
        {
            // Each loader is held until released: had a second one started meanwhile, it would be counted now.
            var entered = await loaders.NextAsync();
            Assert.Equal(1, loaders.Running);
            entered.SetResult();
        }

        await flush.WaitAsync(Deadline);
        Assert.Equal(1, loaders.Most);
        Assert.Equal(Enumerable.Range(0, 5), promises.Select(static p => p.Value));
    }

    [Fact]
    public async Task BatchConcurrencyFour_RunsUpToFourSingleLoadersAtOnce()
    {
        await using var services = FromConfiguration(4);
        await using var scope = services.CreateAsyncScope();
        var batch = scope.ServiceProvider.GetRequiredService<IRcBatch>();
        var loaders = new GatedLoaders();
        var promises = Enumerable.Range(0, 10).Select(i => batch.Load($"four:{i}", t => loaders.LoadAsync(i, t))).ToArray();
        var flush = batch.FlushAsync();

        // Four start, none of which can finish: four run at once.
        var held = new Queue<TaskCompletionSource>();
        for (var i = 0; i < 4; i++)
        {
            held.Enqueue(await loaders.NextAsync());
        }

        Assert.Equal(4, loaders.Running);

        // Each release lets exactly one more start, never a fifth beside the four.
        for (var started = 4; started < promises.Length; started++)
        {
            held.Dequeue().SetResult();
            held.Enqueue(await loaders.NextAsync());
            Assert.Equal(4, loaders.Running);
        }

        while (held.Count > 0)
        {
            held.Dequeue().SetResult();
        }

        await flush.WaitAsync(Deadline);
        Assert.Equal(4, loaders.Most);
        Assert.Equal(Enumerable.Range(0, 10), promises.Select(static p => p.Value));
    }

    /// <summary>Loaders that count how many run at once, each held until the test releases the gate it hands out on entry.</summary>
    private sealed class GatedLoaders
    {
        private readonly Channel<TaskCompletionSource> _entered = Channel.CreateUnbounded<TaskCompletionSource>();
        private int _running;
        private int _most;

        public int Running => Volatile.Read(ref _running);

        public int Most => Volatile.Read(ref _most);

        public async ValueTask<int> LoadAsync(int value, CancellationToken cancellationToken)
        {
            var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var running = Interlocked.Increment(ref _running);
            for (var most = Volatile.Read(ref _most); running > most; most = Volatile.Read(ref _most))
            {
                Interlocked.CompareExchange(ref _most, running, most);
            }

            try
            {
                _entered.Writer.TryWrite(gate);
                await gate.Task.WaitAsync(cancellationToken);
                return value;
            }
            finally
            {
                Interlocked.Decrement(ref _running);
            }
        }

        /// <summary>Waits, with a generous deadline, for the next loader to start, and returns its gate.</summary>
        public async Task<TaskCompletionSource> NextAsync()
        {
            using var deadline = new CancellationTokenSource(Deadline);
            return await _entered.Reader.ReadAsync(deadline.Token);
        }
    }
}
