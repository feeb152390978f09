using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace RcAspNet;

/// <summary>Which of the application's multiplexers <c>UseRcRedisConnection()</c> gives the store: the one without a key, or a keyed one.</summary>
internal sealed class RcAppConnection(object? serviceKey)
{
    public IConnectionMultiplexer Resolve(IServiceProvider services) => serviceKey is null
        ? services.GetService<IConnectionMultiplexer>() ?? throw new InvalidOperationException("UseRcRedisConnection() found no IConnectionMultiplexer in the services: register the application's (or call Aspire's builder.AddRedisClient(\"name\")) first.")
        : services.GetKeyedService<IConnectionMultiplexer>(serviceKey) ?? throw new InvalidOperationException($"UseRcRedisConnection(\"{serviceKey}\") found no IConnectionMultiplexer with that key in the services: register it (Aspire: builder.AddKeyedRedisClient(\"{serviceKey}\")) first.");
}
