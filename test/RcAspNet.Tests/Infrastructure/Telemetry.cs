using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace RcAspNet.Tests.Infrastructure;

/// <summary>Records what one service provider's RcAspNet meter reports.</summary>
public sealed class MetricsRecorder : IDisposable
{
    private readonly MeterListener _listener = new();

    public MetricsRecorder(IServiceProvider services)
    {
        var meter = services.GetRequiredService<IMeterFactory>().Create(RcDiagnostics.MeterName);
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, meter))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((i, v, t, _) => Record(i, v, t));
        _listener.SetMeasurementEventCallback<int>((i, v, t, _) => Record(i, v, t));
        _listener.SetMeasurementEventCallback<double>((i, v, t, _) => Record(i, v, t));
        _listener.Start();
    }

    public ConcurrentQueue<(string Name, double Value, Dictionary<string, string?> Tags)> Measurements { get; } = new();

    public double Sum(string name, Func<Dictionary<string, string?>, bool>? where = null) =>
        Measurements.Where(m => m.Name == name && (where?.Invoke(m.Tags) ?? true)).Sum(static m => m.Value);

    public int Count(string name) => Measurements.Count(m => m.Name == name);

    public void Dispose() => _listener.Dispose();

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags) =>
        Measurements.Enqueue((instrument.Name, value, tags.ToArray().ToDictionary(static t => t.Key, static t => t.Value?.ToString())));
}

/// <summary>Keeps every log record, to check what reaches the logs: its message, and its exception as a log provider prints it.</summary>
public sealed class LogRecorder : ILoggerProvider
{
    public ConcurrentQueue<(string Category, LogLevel Level, EventId Id, string Message, string? Exception)> Records { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(LogRecorder recorder, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            recorder.Records.Enqueue((category, logLevel, eventId, formatter(state, exception), exception?.ToString()));
    }
}
