using System.Text.Json;
using Ledger.Api.Access;
using Ledger.Api.Http;
using Ledger.Api.ServiceDefaults;
using Ledger.Api.ServiceDefaults.OpenApi;
using Microsoft.AspNetCore.Http.HttpResults;
using Wolverine.Http;
using Wolverine.Persistence.Durability;
using Wolverine.Persistence.Durability.DeadLetterManagement;
using Wolverine.Runtime;

namespace Ledger.Api.Features.DeadLetters;

/// <summary>A message Wolverine gave up on after its retries (an integration event it could not deliver, a scheduled run that kept failing).</summary>
/// <param name="Id">Its id: the message id (for an integration event, the recorded event's id).</param>
/// <param name="MessageType">Its message type name (<c>ledger.unit-shipped.v1</c>).</param>
/// <param name="Destination">Where it was going.</param>
/// <param name="SentAt">When it was first sent.</param>
/// <param name="ExceptionType">The last failure's exception type.</param>
/// <param name="ExceptionMessage">The last failure's message.</param>
/// <param name="Replayable">Whether it is marked for replay (Wolverine moves it back to its queue within seconds).</param>
public sealed record DeadLetterView(
    Guid Id, string MessageType, string? Destination, DateTimeOffset SentAt, string ExceptionType, string ExceptionMessage, bool Replayable)
{
    internal static DeadLetterView From(DeadLetterEnvelope letter) => new(
        letter.Id, letter.MessageType, letter.Envelope.Destination?.ToString(), letter.SentAt, letter.ExceptionType, letter.ExceptionMessage,
        letter.Replayable);
}

/// <summary>A page of dead letters, newest first.</summary>
/// <param name="Total">How many dead letters match.</param>
/// <param name="Page">This page's number, from 0.</param>
/// <param name="DeadLetters">The page.</param>
public sealed record DeadLetterPage(int Total, int Page, IReadOnlyList<DeadLetterView> DeadLetters);

/// <summary>The dead letters to replay.</summary>
/// <param name="Ids">Their ids (at most 1,000).</param>
public sealed record ReplayDeadLetters(IReadOnlyList<Guid> Ids);

/// <summary>What a replay did: the ids marked for replay, and those that are not dead letters (any more).</summary>
/// <param name="Replaying">Marked for replay: Wolverine's durability agent moves them back to their queues.</param>
/// <param name="NotFound">No dead letter has this id.</param>
public sealed record DeadLettersReplayed(IReadOnlyList<Guid> Replaying, IReadOnlyList<Guid> NotFound);

/// <summary><c>GET /api/v1/dead-letters</c>: the messages Wolverine gave up on.</summary>
public static class ListDeadLettersEndpoint
{
    /// <summary>The largest page.</summary>
    public const int MaxLimit = 500;

    public static void Configure(HttpChain chain)
    {
        ArgumentNullException.ThrowIfNull(chain);
        chain.Metadata
            .WithName("ListDeadLetters")
            .WithSummary("The messages Wolverine gave up on after their retries, newest first, optionally of one message type.")
            .WithDescription("Integration events that could not be delivered and scheduled work that kept failing (docs/integration-events.md, \"Dead letters\"). Replay them with POST /api/v1/dead-letters/replay once the cause is fixed.")
            .WithParameter("messageType", "Only this message type, e.g. ledger.unit-shipped.v1.")
            .WithParameter("limit", $"Page size, 1 to {MaxLimit} (default 100).")
            .WithParameter("page", "Page number from 0 (default 0).")
            .WithResponseExample(StatusCodes.Status200OK, DeadLettersExamples.Page)
            .ProducesValidationProblem()
            .RequireRole(LedgerRole.Admin);
    }

    [WolverineGet("/api/v1/dead-letters")]
    public static async Task<Results<Ok<DeadLetterPage>, LedgerResponse>> GetAsync(
        HttpContext context, IWolverineRuntime runtime, string? messageType, int? limit, int? page, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(runtime);
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        if (limit is < 1 or > MaxLimit) errors["limit"] = [$"Must be 1 to {MaxLimit}."];
        if (page is < 0) errors["page"] = ["Must be 0 or more."];
        if (errors.Count > 0) return LedgerResponse.Validation(context, errors, "Fix the parameters named in errors.");

        var query = new DeadLetterEnvelopeQuery(JasperFx.Core.TimeRange.AllTime())
        {
            MessageType = string.IsNullOrWhiteSpace(messageType) ? null : messageType,
            PageSize = limit ?? 100,
            PageNumber = page ?? 0,
        };
        var results = await runtime.Storage.DeadLetters.QueryAsync(query, cancellationToken);
        return TypedResults.Ok(new DeadLetterPage(
            results.TotalCount, results.PageNumber, [.. results.Envelopes.OrderByDescending(e => e.SentAt).Select(DeadLetterView.From)]));
    }
}

/// <summary><c>POST /api/v1/dead-letters/replay</c>: send dead letters again.</summary>
public static class ReplayDeadLettersEndpoint
{
    public static void Configure(HttpChain chain)
    {
        ArgumentNullException.ThrowIfNull(chain);
        chain.Metadata
            .WithName("ReplayDeadLetters")
            .WithSummary("Mark dead letters for replay: Wolverine moves them back to their queues and delivers them again.")
            .WithDescription("Consumers deduplicate by message id, so replaying a message that did arrive after all is harmless (docs/integration-events.md). Answers which ids were marked and which are not dead letters.")
            .WithRequestExample("two dead letters", DeadLettersExamples.Replay)
            .WithResponseExample(StatusCodes.Status202Accepted, DeadLettersExamples.Replayed)
            .Accepts<ReplayDeadLetters>("application/json")
            .ProducesValidationProblem()
            .RequireRole(LedgerRole.Admin);
    }

    [WolverinePost("/api/v1/dead-letters/replay")]
    public static async Task<Results<Accepted<DeadLettersReplayed>, LedgerResponse>> PostAsync(
        HttpContext context, IWolverineRuntime runtime, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(runtime);
        var (document, refusal) = await RequestBody.ReadJsonAsync(context, 64 * 1024);
        if (refusal is not null) return refusal;
        List<Guid> ids = [];
        using (document)
        {
            var root = document!.RootElement;
            var valid = root.ValueKind == JsonValueKind.Object && root.EnumerateObject().All(p => p.Name == "ids")
                && root.TryGetProperty("ids", out var array) && array.ValueKind == JsonValueKind.Array
                && array.GetArrayLength() is > 0 and <= 1_000
                && array.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String && Guid.TryParse(e.GetString(), out _));
            if (!valid)
            {
                return LedgerResponse.Validation(context, new Dictionary<string, string[]> { ["ids"] = ["""Send {"ids": [...]} with 1 to 1,000 dead letter ids (UUIDs)."""] },
                    "Fix the fields named in errors.");
            }

            ids.AddRange(root.GetProperty("ids").EnumerateArray().Select(e => Guid.Parse(e.GetString()!)));
        }

        var letters = runtime.Storage.DeadLetters;
        var distinct = ids.Distinct().ToArray();
        // One query for all of them, not one per id (up to 1,000).
        var existing = (await letters.QueryAsync(new DeadLetterEnvelopeQuery(distinct) { PageSize = distinct.Length }, cancellationToken))
            .Envelopes.Select(e => e.Id).ToHashSet();
        var found = distinct.Where(existing.Contains).ToList();
        var missing = distinct.Where(id => !existing.Contains(id)).ToList();
        if (found.Count > 0) await letters.ReplayAsync(new DeadLetterEnvelopeQuery([.. found]), cancellationToken);
        return TypedResults.Accepted("/api/v1/dead-letters", new DeadLettersReplayed(found, missing));
    }
}

/// <summary><c>DELETE /api/v1/dead-letters/{id}</c>: give up on a dead letter for good.</summary>
public static class DiscardDeadLetterEndpoint
{
    public static void Configure(HttpChain chain)
    {
        ArgumentNullException.ThrowIfNull(chain);
        chain.Metadata
            .WithName("DiscardDeadLetter")
            .WithSummary("Delete a dead letter: it will not be delivered. Answers the dead letter as it was.")
            .WithParameter("id", "The dead letter's id.")
            .WithResponseExample(StatusCodes.Status200OK, DeadLettersExamples.One)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .RequireRole(LedgerRole.Admin);
    }

    [WolverineDelete("/api/v1/dead-letters/{id}")]
    public static async Task<Results<Ok<DeadLetterView>, LedgerResponse>> DeleteAsync(Guid id, HttpContext context, IWolverineRuntime runtime, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(runtime);
        var letters = runtime.Storage.DeadLetters;
        if (await letters.DeadLetterEnvelopeByIdAsync(id) is not { } letter)
        {
            return LedgerResponse.Problem(context, StatusCodes.Status404NotFound, ProblemTypes.NotFound, "No such dead letter.",
                $"No dead letter has id {id}; it may have been replayed or discarded already.");
        }

        await letters.DiscardAsync(new DeadLetterEnvelopeQuery([id]), cancellationToken);
        return TypedResults.Ok(DeadLetterView.From(letter));
    }
}
