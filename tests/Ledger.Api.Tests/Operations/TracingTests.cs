using System.Collections.ObjectModel;
using System.Diagnostics;
using System.Net;
using Ledger.Api.Access;
using Ledger.Api.ServiceDefaults.Telemetry;
using Ledger.Api.Tests.Support;
using Ledger.Api.Tests.WritePath;
using Ledger.EventStore;
using Ledger.Testing;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Trace;

namespace Ledger.Api.Tests.Operations;

/// <summary>
/// Traces: an append is one trace from the HTTP request through the write path's decide-and-append span to the
/// database's commands; nothing is traced unless an OTLP endpoint is set.
/// </summary>
public sealed class TracingTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>, IAsyncDisposable
{
    private readonly Spans _spans = new();
    private readonly LedgerApiFactory _api = new(database.ConnectionString);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task An_append_is_one_trace_from_the_http_request_through_the_handler_to_the_database()
    {
        // The same tracing set-up the service uses, exported to memory instead of OTLP.
        await using var node = _api.WithWebHostBuilder(b => b.ConfigureServices(services =>
            services.AddOpenTelemetry().WithTracing(tracing => LedgerTelemetry.ConfigureTracing(tracing).AddInMemoryExporter(_spans))));
        var keys = node.Services.GetRequiredService<ApiKeyStore>();
        using var line = node.CreateClient();
        line.DefaultRequestHeaders.Authorization = new("Bearer", (await keys.CreateAsync($"line-{Guid.NewGuid():N}", LedgerRole.Line, "lathrop", Ct)).Key);
        var path = $"/api/v1/units/{LineEvents.NewSerial()}/events";

        using (var response = await line.SendAsync(LineEvents.Post(path, LineEvents.Built()), Ct))
        {
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        }

        // Spans end a little after the answer is sent (the server's own, the group commit's): wait for the whole trace.
        var (request, handler, commit, trace) = await WaitForTraceAsync(path);

        Assert.Equal(ActivityKind.Server, request.Kind);
        Assert.Equal("POST", request.GetTagItem("http.request.method"));
        Assert.Equal(201, request.GetTagItem("http.response.status_code"));
        Assert.Equal(request.SpanId, handler.ParentSpanId);
        Assert.Equal(1, handler.GetTagItem("ledger.events"));
        Assert.Equal("recorded", handler.GetTagItem("ledger.outcome"));
        Assert.Equal(handler.SpanId, commit.ParentSpanId);
        Assert.Equal(1, commit.GetTagItem("eventstore.group_commit.requests"));

        // The database: the handler's reads of the unit's stream, and the group commit's statements beneath it.
        var database = trace.Where(s => s.Source.Name == "Npgsql").ToList();
        Assert.Contains(database, s => s.ParentSpanId == handler.SpanId);
        Assert.Contains(database, s => s.ParentSpanId == commit.SpanId);
        Assert.All(database, s => Assert.Equal(ActivityKind.Client, s.Kind));
        // Values travel as parameters, which Npgsql's spans do not carry: the unit's serial appears in none of them.
        var serial = path.Split('/')[4];
        Assert.All(database, s => Assert.DoesNotContain(s.TagObjects, t => t.Value?.ToString()?.Contains(serial, StringComparison.Ordinal) == true));

        // One trace: every span in it descends from the request's span.
        var bySpan = trace.ToDictionary(s => s.SpanId);
        Assert.All(trace.Where(s => s != request), s =>
        {
            var ancestor = s;
            while (ancestor != request) ancestor = bySpan[ancestor.ParentSpanId];
        });
    }

    [Fact]
    public async Task Without_an_otlp_endpoint_nothing_is_traced_and_with_one_traces_are_exported()
    {
        Assert.Null(_api.Services.GetService<TracerProvider>());

        // A local port nothing listens on: the exporter's attempts fail quietly, which is all this checks.
        await using var exporting = _api.WithWebHostBuilder(b => b.UseSetting(LedgerTelemetry.OtlpEndpointSetting, "http://127.0.0.1:9"));
        Assert.NotNull(exporting.Services.GetService<TracerProvider>());
    }

    private async Task<(Activity Request, Activity Handler, Activity Commit, IReadOnlyList<Activity> Trace)> WaitForTraceAsync(string path)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        deadline.CancelAfter(TimeSpan.FromSeconds(30));
        while (true)
        {
            var spans = _spans.Snapshot();
            var request = spans.SingleOrDefault(s => s.Kind == ActivityKind.Server && Equals(s.GetTagItem("url.path"), path));
            if (request is not null)
            {
                var trace = spans.Where(s => s.TraceId == request.TraceId).ToList();
                var handler = trace.SingleOrDefault(s => s.Source == LedgerTelemetry.Source && s.OperationName == "ledger.record_events");
                var commit = trace.SingleOrDefault(s => s.Source.Name == EventStoreInstrumentation.ActivitySourceName);
                if (handler is not null && commit is not null && trace.Any(s => s.Source.Name == "Npgsql" && s.ParentSpanId == commit.SpanId))
                {
                    return (request, handler, commit, trace);
                }
            }

            await Task.Delay(50, deadline.Token);
        }
    }

    public async ValueTask DisposeAsync() => await _api.DisposeAsync();

    /// <summary>The exporter adds from whichever thread ends a span; the test reads from its own.</summary>
    private sealed class Spans : Collection<Activity>
    {
        private readonly Lock _gate = new();

        public IReadOnlyList<Activity> Snapshot()
        {
            lock (_gate) return [.. Items];
        }

        protected override void InsertItem(int index, Activity item)
        {
            lock (_gate) base.InsertItem(index, item);
        }
    }
}
