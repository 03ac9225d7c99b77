using System.Globalization;
using System.Text.Json;
using Ledger.Api.Access;
using Ledger.Api.Http;
using Ledger.Api.ServiceDefaults.Messaging;
using Ledger.Api.ServiceDefaults.OpenApi;
using Ledger.EventStore.Schema;
using Npgsql;
using NpgsqlTypes;
using Wolverine.ErrorHandling;
using Wolverine.Runtime.Handlers;
using Wolverine.Util;

namespace Ledger.Api.Features.Integration.Journal;

/// <summary>One integration event as the local transport received it.</summary>
/// <param name="MessageId">The message id (for unit notifications, the recorded event's id).</param>
/// <param name="Type">The message type name (<c>ledger.unit-shipped.v1</c>, ...).</param>
/// <param name="ReceivedAt">When it was first received.</param>
/// <param name="Deliveries">How often it was received: more than 1 after a redelivery (at least once).</param>
/// <param name="Message">The message as a consumer receives it (docs/integration-events.md).</param>
public sealed record JournaledEvent(Guid MessageId, string Type, DateTimeOffset ReceivedAt, int Deliveries, JsonElement Message);

/// <summary>A page of the journal and where the next one starts.</summary>
/// <param name="Events">In order of first receipt.</param>
/// <param name="Next">The cursor of the next page, or null when this page was the last so far.</param>
public sealed record JournalPage(IReadOnlyList<JournaledEvent> Events, string? Next);

/// <summary>
/// The journal of the local transport (<c>ledger.integration_events</c>): what downstream systems would receive, once per
/// message id, when no broker is configured.
/// </summary>
public sealed class IntegrationJournal(NpgsqlDataSource dataSource)
{
    private static readonly string Record = SqlResources.Read(typeof(IntegrationJournal).Assembly, "integration_journal_record.sql");
    private static readonly string List = SqlResources.Read(typeof(IntegrationJournal).Assembly, "integration_journal_list.sql");

    /// <summary>
    /// Stores received messages in the order given, in one statement, or counts a redelivery of one stored already.
    /// </summary>
    public async Task RecordAsync(IReadOnlyList<JournalEntry> entries, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entries);
        if (entries.Count == 0) return;
        await using var command = dataSource.CreateCommand(Record);
        command.Parameters.Add(new NpgsqlParameter<Guid[]>("message_ids", NpgsqlDbType.Array | NpgsqlDbType.Uuid) { TypedValue = [.. entries.Select(e => e.MessageId)] });
        command.Parameters.Add(new NpgsqlParameter<string[]>("types", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = [.. entries.Select(e => e.Type)] });
        command.Parameters.Add(new NpgsqlParameter<string[]>("bodies", NpgsqlDbType.Array | NpgsqlDbType.Jsonb) { TypedValue = [.. entries.Select(e => e.Body)] });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Up to <paramref name="limit"/> messages received after the one with <paramref name="after"/>, in order of receipt.</summary>
    public async Task<IReadOnlyList<(long Seq, JournaledEvent Event)>> ListAsync(long after, string? type, int limit, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(List);
        command.Parameters.Add(new NpgsqlParameter<long>("after", after));
        command.Parameters.Add(new NpgsqlParameter("type", NpgsqlDbType.Text) { Value = (object?)type ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter<int>("limit", limit));
        var page = new List<(long, JournaledEvent)>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            using var body = JsonDocument.Parse(reader.GetString(3));
            page.Add((reader.GetInt64(0), new JournaledEvent(
                reader.GetGuid(1), reader.GetString(2), reader.GetFieldValue<DateTimeOffset>(4), reader.GetInt32(5), body.RootElement.Clone())));
        }

        return page;
    }
}

/// <summary>
/// Handles what the durable local queue (<see cref="IntegrationTransport.JournalQueue"/>) carries: journals it. Runs only
/// where no broker is configured, since only then is anything routed there.
/// </summary>
public static class IntegrationJournalHandler
{
    /// <summary>Retries a failing journal write (the database restarting, say), then leaves the message to the dead letters.</summary>
    public static void Configure(HandlerChain chain)
    {
        ArgumentNullException.ThrowIfNull(chain);
        chain.OnAnyException()
            .RetryWithCooldown(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5))
            .Then.MoveToErrorQueue();
    }

    /// <summary>
    /// The subscription batches Wolverine assembled from the queue, in the order they arrived (IntegrationTransport), their
    /// integration events journaled in one statement.
    /// </summary>
    public static Task Handle(JournalBatch[] batches, IntegrationJournal journal, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batches);
        return journal.RecordAsync([.. batches.SelectMany(b => b.Entries)], cancellationToken);
    }

    /// <summary>
    /// One integration event queued on its own: what versions before decision 0009 queued, one envelope per message. A
    /// node stopped with a backlog leaves such envelopes in the inbox; this journals them after the upgrade, where
    /// without a handler Wolverine would mark them handled unjournaled.
    /// </summary>
    public static Task Handle(IIntegrationEvent message, IntegrationJournal journal, CancellationToken cancellationToken) =>
        journal.RecordAsync([JournalEntry.Of(message)], cancellationToken);
}

/// <summary><c>GET /api/v1/integration-events</c>: the local transport's journal, for admins.</summary>
public static class IntegrationJournalEndpoints
{
    public const int DefaultPageSize = 100;
    public const int MaxPageSize = 1_000;

    private static readonly IReadOnlySet<string> TypeNames = IntegrationTransport.MessageTypes.Select(t => t.ToMessageTypeName()).ToHashSet(StringComparer.Ordinal);

    public static RouteGroupBuilder MapIntegrationJournal(this RouteGroupBuilder api)
    {
        ArgumentNullException.ThrowIfNull(api);
        api.MapGet("/integration-events", ListAsync)
            .WithName("ListIntegrationEvents")
            .WithSummary("The integration events the local transport delivered, once per message id, in order of first receipt.")
            .WithDescription("""
                What downstream systems would receive (docs/integration-events.md), as journaled by the service's own durable
                local queue when no broker is configured (Ledger:RabbitMq unset). With a broker, the messages go to the
                RabbitMQ exchange ledger.integration instead and this journal stays as it was. `deliveries` above 1 counts
                redeliveries (at least once). `next` is the opaque cursor of the next page; it is null when this page was
                the last so far, and the last page's cursor can be kept to poll for more.
                """)
            .WithParameter("type", "Only messages of this type: " + string.Join(", ", TypeNames.Order(StringComparer.Ordinal)) + ".")
            .WithParameter("cursor", "The `next` of the previous page.")
            .WithParameter("limit", $"Messages per page, 1 to {MaxPageSize:N0} (default {DefaultPageSize}).")
            .WithResponseExample(StatusCodes.Status200OK, IntegrationJournalExamples.Page)
            .Produces<JournalPage>()
            .ProducesValidationProblem()
            .RequireRole(LedgerRole.Admin);
        return api;
    }

    private static async Task<IResult> ListAsync(
        string? type, string? cursor, string? limit, HttpContext context, IntegrationJournal journal, CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        if (type is not null && !TypeNames.Contains(type)) errors["type"] = [$"Must be one of {string.Join(", ", TypeNames.Order(StringComparer.Ordinal))}."];
        long after = 0;
        if (cursor is not null && !(OpaqueCursor.TryDecode("j", cursor, out var value)
                                    && long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out after)))
        {
            errors["cursor"] = ["Not a cursor this endpoint gave out."];
        }

        var size = DefaultPageSize;
        if (limit is not null && (!int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out size) || size is < 1 or > MaxPageSize))
        {
            errors["limit"] = [$"Must be 1 to {MaxPageSize}."];
        }

        if (errors.Count > 0) return LedgerResponse.Validation(context, errors, "Fix the query parameters named in errors.");

        var page = await journal.ListAsync(after, type, size + 1, cancellationToken);
        var shown = page.Take(size).ToList();
        // A cursor after a full page only: a short page is the end so far (a client polling keeps its last cursor).
        var next = page.Count > size ? OpaqueCursor.Encode("j", shown[^1].Seq.ToString(CultureInfo.InvariantCulture)) : null;
        return TypedResults.Ok(new JournalPage([.. shown.Select(p => p.Event)], next));
    }
}

/// <summary>What the OpenAPI document shows for the journal.</summary>
internal static class IntegrationJournalExamples
{
    public const string Page = """
        {"events": [
          {"messageId": "0193a5e4-7c1f-7cc3-9a36-5d3d2b1f8e10", "type": "ledger.unit-shipped.v1",
           "receivedAt": "2025-07-29T07:00:00.051+00:00", "deliveries": 1,
           "message": {"eventId": "0193a5e4-7c1f-7cc3-9a36-5d3d2b1f8e10", "serial": "LTP-2025-004711", "factoryId": "lathrop",
                       "destination": {"country": "AU", "region": "Australia", "site": "Waratah Super Battery"},
                       "energyKwh": 3916, "carrier": "Maersk", "shipmentId": "SHP-88412",
                       "occurredAt": "2025-07-29T06:59:58+00:00", "recordedAt": "2025-07-29T07:00:00.012+00:00",
                       "streamVersion": 3, "position": 48213}}],
         "next": null}
        """;
}
