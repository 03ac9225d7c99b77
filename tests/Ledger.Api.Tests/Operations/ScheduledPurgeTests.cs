using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using Ledger.Api.Access;
using Ledger.Api.Idempotency;
using Ledger.Api.Tests.Support;
using Ledger.Api.Tests.WritePath;
using Ledger.Testing;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Wolverine;

namespace Ledger.Api.Tests.Operations;

/// <summary>
/// The Idempotency-Key purge is Wolverine scheduled work (issue 13): one run per hour across all nodes, kept in
/// Wolverine's inbox, each run scheduling the next.
/// </summary>
public sealed class ScheduledPurgeTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Two_nodes_starting_together_schedule_the_next_purge_once()
    {
        await using var a = new LedgerApiFactory(database.ConnectionString);
        await using var b = new LedgerApiFactory(database.ConnectionString);
        await Task.WhenAll(Task.Run(() => a.Services, Ct), Task.Run(() => b.Services, Ct));

        var scheduled = await ScheduledRunsAsync();

        var due = Assert.Single(scheduled);
        Assert.Equal(PurgeIdempotencyKeys.After(DateTimeOffset.UtcNow).Due, due);
    }

    // Red before: Wolverine's durable local queue does not hand a duplicate back to the caller; it retried the insert
    // three times with back-off and logged an error, on every node start but the hour's first (issue 15, start-up).
    [Fact]
    public async Task A_node_starting_when_the_next_purge_is_scheduled_stores_nothing_and_logs_no_error()
    {
        await using var first = new LedgerApiFactory(database.ConnectionString);
        _ = first.Services;
        var logs = new CapturedLogs();
        await using var second = new LedgerApiFactory(database.ConnectionString)
            .WithWebHostBuilder(b => b.ConfigureLogging(l => l.AddProvider(logs)));
        _ = second.Services;

        Assert.Single(await ScheduledRunsAsync());
        Assert.DoesNotContain(logs.Entries, e => e.Level >= LogLevel.Warning && e.Text.Contains("purge-idempotency-keys", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_run_forgets_keys_past_their_retention_keeps_younger_ones_and_schedules_the_next_run_once()
    {
        await using var api = new LedgerApiFactory(database.ConnectionString);
        using var line = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Line, "lathrop"));
        var old = Guid.NewGuid().ToString();
        var young = Guid.NewGuid().ToString();
        foreach (var key in new[] { old, young })
        {
            using var response = await line.SendAsync(LineEvents.Post($"/api/v1/units/{LineEvents.NewSerial()}/events", new JsonArray(LineEvents.Built()), key), Ct);
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        }

        await using var db = database.CreateDataSource();
        await using (var age = db.CreateCommand("update ledger.idempotency_keys set created_at = now() - interval '25 hours' where idempotency_key = $1"))
        {
            age.Parameters.AddWithValue(old);
            Assert.Equal(1, await age.ExecuteNonQueryAsync(Ct));
        }

        // The run a node would execute at the hour, invoked now.
        using var scope = api.Services.CreateScope();
        var bus = scope.ServiceProvider.GetRequiredService<IMessageBus>();
        await bus.InvokeAsync(new PurgeIdempotencyKeys(DateTimeOffset.UtcNow), Ct);
        await bus.InvokeAsync(new PurgeIdempotencyKeys(DateTimeOffset.UtcNow), Ct);

        await using var keys = db.CreateCommand("select idempotency_key from ledger.idempotency_keys where idempotency_key = any($1)");
        keys.Parameters.AddWithValue(new[] { old, young });
        var left = new List<string>();
        await using (var reader = await keys.ExecuteReaderAsync(Ct))
        {
            while (await reader.ReadAsync(Ct)) left.Add(reader.GetString(0));
        }

        Assert.Equal([young], left);
        Assert.Single(await ScheduledRunsAsync());
    }

    private sealed record Entry(LogLevel Level, string Text);

    private sealed class CapturedLogs : ILoggerProvider
    {
        private readonly ConcurrentQueue<Entry> _entries = new();

        public IReadOnlyList<Entry> Entries => [.. _entries];

        public ILogger CreateLogger(string categoryName) => new Logger(_entries);

        public void Dispose()
        {
        }

        private sealed class Logger(ConcurrentQueue<Entry> entries) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                entries.Enqueue(new Entry(logLevel, $"{formatter(state, exception)} {exception}"));
        }
    }

    private async Task<List<DateTimeOffset>> ScheduledRunsAsync()
    {
        await using var db = database.CreateDataSource();
        await using var command = db.CreateCommand(
            "select execution_time from ledger.wolverine_incoming_envelopes where message_type = 'ledger.purge-idempotency-keys' and status = 'Scheduled'");
        var due = new List<DateTimeOffset>();
        await using var reader = await command.ExecuteReaderAsync(Ct);
        while (await reader.ReadAsync(Ct)) due.Add(reader.GetFieldValue<DateTimeOffset>(0));
        return due;
    }
}
