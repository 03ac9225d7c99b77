using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Ledger.Api.Access;
using Ledger.Api.ServiceDefaults.Logging;
using Ledger.Api.Tests.Support;
using Ledger.Testing;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace Ledger.Api.Tests.Operations;

/// <summary>
/// Logs carry the request's correlation id, come out as JSON with it, and never contain an API key's secret — whatever
/// the level, including the bootstrap key given in the configuration.
/// </summary>
public sealed class LoggingTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>, IAsyncDisposable
{
    private readonly LedgerApiFactory _api = new(database.ConnectionString);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Lines_logged_while_a_request_is_handled_carry_its_correlation_id()
    {
        var logs = new CapturedLogs();
        await using var node = WithLogs(_api, logs);
        using var client = node.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "not-a-key");
        client.DefaultRequestHeaders.Add("X-Correlation-Id", "ops-test-correlation-42");

        using var response = await client.GetAsync(new Uri("/api/v1/whoami", UriKind.Relative), Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var during = logs.Entries.Where(e => e.Scopes.Contains($"{CorrelationScope.Key}=ops-test-correlation-42")).ToList();
        Assert.Contains(during, e => e.Category.StartsWith("Ledger.Api.Access", StringComparison.Ordinal));
    }

    [Fact]
    public void The_json_formatter_writes_the_correlation_id_as_a_property_of_the_line()
    {
        var formatter = _api.Services.GetServices<ConsoleFormatter>().Single(f => f.Name == ConsoleFormatterNames.Json);
        var scopes = new LoggerExternalScopeProvider();
        using var writer = new StringWriter();

        using (scopes.Push(new CorrelationScope("ops-test-7")))
        {
            formatter.Write(new LogEntry<string>(LogLevel.Warning, "Ledger.Test", new EventId(1), "The database is unavailable", null, (s, _) => s), scopes, writer);
        }

        using var line = JsonDocument.Parse(writer.ToString());
        Assert.Equal("Warning", line.RootElement.GetProperty("LogLevel").GetString());
        Assert.EndsWith("Z", line.RootElement.GetProperty("Timestamp").GetString(), StringComparison.Ordinal);
        Assert.Contains(line.RootElement.GetProperty("Scopes").EnumerateArray(),
            s => s.ValueKind == JsonValueKind.Object && s.TryGetProperty(CorrelationScope.Key, out var id) && id.GetString() == "ops-test-7");
    }

    [Fact]
    public async Task The_console_format_is_json_off_a_terminal_and_the_setting_switches_it()
    {
        var unset = _api.Services.GetRequiredService<IOptions<ConsoleLoggerOptions>>().Value.FormatterName;
        Assert.Equal(Console.IsOutputRedirected ? ConsoleFormatterNames.Json : ConsoleFormatterNames.Simple, unset);

        await using var systemd = _api.WithWebHostBuilder(b => b.UseSetting(LedgerLogging.FormatterSetting, ConsoleFormatterNames.Systemd));
        Assert.Equal(ConsoleFormatterNames.Systemd, systemd.Services.GetRequiredService<IOptions<ConsoleLoggerOptions>>().Value.FormatterName);
    }

    [Fact]
    public async Task No_api_key_secret_is_ever_logged()
    {
        var bootstrap = ApiKeyText.Generate().ToString();
        var logs = new CapturedLogs();
        await using var node = WithLogs(_api, logs, b => b.UseSetting("Ledger:BootstrapAdminKey", bootstrap));
        var keys = node.Services.GetRequiredService<ApiKeyStore>();
        var valid = (await keys.CreateAsync($"logging-{Guid.NewGuid():N}", LedgerRole.Reporting, null, Ct)).Key;
        var revoked = (await keys.CreateAsync($"revoked-{Guid.NewGuid():N}", LedgerRole.Reporting, null, Ct)).Key;
        await keys.RevokeAsync(ApiKeyText.TryParse(revoked, out var parsed) ? parsed.Id.ToString() : throw new InvalidOperationException(), Ct);
        var wrongSecret = valid[..^4] + (valid.EndsWith("AAAA", StringComparison.Ordinal) ? "BBBB" : "AAAA");
        var forbidden = valid; // a reporting key on an admin endpoint

        foreach (var (key, path) in new[]
                 {
                     (bootstrap, "/api/v1/whoami"), (valid, "/api/v1/whoami"), (wrongSecret, "/api/v1/whoami"), (revoked, "/api/v1/whoami"),
                     (forbidden, "/api/v1/projections/milestones/retry"), ("ldg_garbage", "/api/v1/whoami"),
                 })
        {
            using var client = node.CreateClient(new WebApplicationFactoryClientOptions());
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
            using var request = new HttpRequestMessage(path.EndsWith("retry", StringComparison.Ordinal) ? HttpMethod.Post : HttpMethod.Get, new Uri(path, UriKind.Relative));
            using var response = await client.SendAsync(request, Ct);
            Assert.NotEqual(HttpStatusCode.InternalServerError, response.StatusCode);
        }

        Assert.NotEmpty(logs.Entries);
        // ldg_<id>_<secret>: the secret is everything after the second underscore (base64url may itself hold '_').
        var secrets = new[] { bootstrap, valid, wrongSecret, revoked }.Select(k => k.Split('_', 3)[2]).ToList();
        Assert.All(secrets, s => Assert.Equal(43, s.Length));
        var leaks = logs.Entries.Where(e => secrets.Any(s => e.Text.Contains(s, StringComparison.Ordinal))).Select(e => e.Category).ToList();
        Assert.True(leaks.Count == 0, "A key secret was logged by: " + string.Join(", ", leaks));
    }

    private static WebApplicationFactory<Program> WithLogs(LedgerApiFactory api, CapturedLogs logs, Action<IWebHostBuilder>? configure = null) =>
        api.WithWebHostBuilder(b =>
        {
            configure?.Invoke(b);
            b.ConfigureLogging(l => l.AddProvider(logs).AddFilter<CapturedLogs>(null, LogLevel.Trace));
        });

    public async ValueTask DisposeAsync() => await _api.DisposeAsync();

    /// <summary>One logged line with everything a formatter could print: message, state, exception and scopes.</summary>
    private sealed record Entry(string Category, string Text, string Scopes);

    /// <summary>Every line of every category at every level, as text.</summary>
    private sealed class CapturedLogs : ILoggerProvider, ISupportExternalScope
    {
        private readonly ConcurrentQueue<Entry> _entries = new();
        private IExternalScopeProvider _scopes = new LoggerExternalScopeProvider();

        public IReadOnlyList<Entry> Entries => [.. _entries];

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

        public void Dispose()
        {
        }

        private sealed class Logger(CapturedLogs owner, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => owner._scopes.Push(state);

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                var scopes = new List<string>();
                owner._scopes.ForEachScope((scope, list) => list.Add(Describe(scope)), scopes);
                var text = $"{formatter(state, exception)} | {Describe(state)} | {exception} | {string.Join(" ; ", scopes)}";
                owner._entries.Enqueue(new Entry(category, text, string.Join(" ; ", scopes)));
            }

            private static string Describe(object? value) => value is IEnumerable<KeyValuePair<string, object?>> pairs
                ? string.Join(", ", pairs.Select(p => $"{p.Key}={p.Value}"))
                : value?.ToString() ?? string.Empty;
        }
    }
}
