using System.Collections.Concurrent;

namespace Ledger.ReadModels.Tests.Support;

/// <summary>Keeps every line a rebuild or a fill logs.</summary>
internal sealed class CollectingLog : Microsoft.Extensions.Logging.ILogger
{
    private readonly ConcurrentQueue<string> _lines = new();

    public IReadOnlyCollection<string> Lines => _lines;

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

    public void Log<TState>(
        Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception,
        Func<TState, Exception?, string> formatter) => _lines.Enqueue(formatter(state, exception));
}
