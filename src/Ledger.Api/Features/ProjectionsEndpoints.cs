using Ledger.Api.Access;
using Ledger.Api.Http;
using Ledger.Api.ServiceDefaults;
using Ledger.Api.ServiceDefaults.OpenApi;
using Ledger.EventStore.Projections;
using Ledger.ReadModels;

namespace Ledger.Api.Features;

/// <summary>A rebuild under way, as operators read it.</summary>
public sealed record RebuildView(DateTimeOffset RequestedAt, DateTimeOffset? StartedAt, long EventsDone, long EventsTotal, double EventsPerSecond, double? EtaSeconds);

/// <summary>Where a projection stands, as operators read it.</summary>
public sealed record ProjectionView(
    string Name, string State, long Position, string Cursor, long LagEvents, double LagSeconds, string? OwnerNode, DateTimeOffset? OwnerSince,
    ProjectionFailure? Failure, RebuildView? Rebuild, DateTimeOffset? LastRebuildFinishedAt, DateTimeOffset UpdatedAt)
{
    internal static ProjectionView From(ProjectionStatus s) => new(
        s.Name, s.State == ProjectionState.Running ? "running" : "failed", s.Cursor.Position, s.Cursor.ToString(), s.LagEvents,
        Math.Round(s.Lag.TotalSeconds, 3), s.OwnerNode, s.OwnerSince, s.Failure,
        s.Rebuild is { } r ? new RebuildView(r.RequestedAt, r.StartedAt, r.EventsDone, r.EventsTotal, Math.Round(r.EventsPerSecond, 1), r.EstimatedRemaining?.TotalSeconds) : null,
        s.LastRebuildFinishedAt, s.UpdatedAt);
}

/// <summary>
/// <c>/api/v1/projections</c>: where each read model stands, and the operator's levers (rebuild, retry, skip).
/// </summary>
public static class ProjectionsEndpoints
{
    public static RouteGroupBuilder MapProjections(this RouteGroupBuilder api)
    {
        ArgumentNullException.ThrowIfNull(api);
        api.MapGet("/projections", ListAsync)
            .WithName("ListProjections")
            .WithSummary("Each projection's position, lag in events and seconds, owner node, state, failure and rebuild progress.")
            .WithDescription("unit-status is inline (written with the events, never behind); the others are kept by the projection daemons (docs/projections.md).")
            .WithResponseExample(StatusCodes.Status200OK, ProjectionsExamples.List)
            .Produces<IReadOnlyList<ProjectionView>>()
            .RequireRole(LedgerRole.Auditor);
        api.MapPost("/projections/{name}/rebuild", RebuildAsync)
            .WithName("RebuildProjection")
            .WithSummary("Replay the projection from the start into fresh tables, then swap them in; the live tables answer meanwhile.")
            .WithDescription("Answers at once with the projection's status; GET /api/v1/projections shows the rebuild's progress. A second request while one runs is 409.")
            .WithParameter("name", ProjectionsExamples.Name)
            .Produces<ProjectionView>(StatusCodes.Status202Accepted)
            .WithResponseExample(StatusCodes.Status202Accepted, ProjectionsExamples.Rebuilding)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .RequireRole(LedgerRole.Admin);
        api.MapPost("/projections/{name}/retry", RetryAsync)
            .WithName("RetryProjection")
            .WithSummary("Let a failed projection try the event it stopped at again (after a fix).")
            .WithDescription("409 when the projection has not failed.")
            .WithParameter("name", ProjectionsExamples.Name)
            .WithResponseExample(StatusCodes.Status202Accepted, ProjectionsExamples.Retried)
            .Produces<ProjectionView>(StatusCodes.Status202Accepted)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .RequireRole(LedgerRole.Admin);
        api.MapPost("/projections/{name}/skip", SkipAsync)
            .WithName("SkipProjectionEvent")
            .WithSummary("Move a failed projection past exactly the event it stopped at; the skip is recorded.")
            .WithDescription("The skip is recorded with the admin key's name in ledger.projection_skips. 409 when the projection has not failed.")
            .WithParameter("name", ProjectionsExamples.Name)
            .WithResponseExample(StatusCodes.Status202Accepted, ProjectionsExamples.Skipped)
            .Produces<SkippedEvent>(StatusCodes.Status202Accepted)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .RequireRole(LedgerRole.Admin);
        return api;
    }

    private static async Task<IResult> ListAsync(ProjectionAdmin projections, UnitStatusRebuilds inline, EventStore.EventStore store, CancellationToken cancellationToken)
    {
        var views = (await projections.GetStatusAsync(cancellationToken)).Select(ProjectionView.From).ToList();
        views.Insert(0, await InlineViewAsync(inline, store, cancellationToken));
        return TypedResults.Ok(views);
    }

    /// <summary>UnitStatus is written with the events, so it is always at the head of the feed, never behind.</summary>
    private static async Task<ProjectionView> InlineViewAsync(UnitStatusRebuilds inline, EventStore.EventStore store, CancellationToken cancellationToken)
    {
        var head = await store.GetHeadPositionAsync(cancellationToken);
        var rebuild = inline.IsRunning && inline.RequestedAt is { } requested
            ? new RebuildView(requested, requested, inline.Progress.Done, inline.Progress.Total, 0, null)
            : null;
        var failure = inline.Error is { } error ? new ProjectionFailure(error, null, null, inline.FinishedAt, DuringRebuild: true) : null;
        return new ProjectionView(UnitStatusProjection.Name, "running", head, "inline", 0, 0, null, null, failure, rebuild,
            inline.FinishedAt, inline.FinishedAt ?? DateTimeOffset.UnixEpoch);
    }

    private static async Task<IResult> RebuildAsync(
        string name, HttpContext context, ProjectionAdmin projections, UnitStatusRebuilds inline, EventStore.EventStore store,
        CancellationToken cancellationToken)
    {
        if (name == UnitStatusProjection.Name)
        {
            return inline.TryStart()
                ? TypedResults.Accepted("/api/v1/projections", await InlineViewAsync(inline, store, cancellationToken))
                : LedgerResponse.Problem(context, StatusCodes.Status409Conflict, ProblemTypes.Conflict, "A rebuild is already under way.",
                    "unit-status is already being rebuilt on this node; GET /api/v1/projections shows its progress.");
        }

        if (await projections.GetStatusAsync(name, cancellationToken) is null) return Unknown(context, name);
        if (!await projections.RequestRebuildAsync(name, cancellationToken))
        {
            return LedgerResponse.Problem(context, StatusCodes.Status409Conflict, ProblemTypes.Conflict, "A rebuild is already under way.",
                $"Projection '{name}' is already being rebuilt; GET /api/v1/projections shows its progress.");
        }

        return TypedResults.Accepted("/api/v1/projections", ProjectionView.From((await projections.GetStatusAsync(name, cancellationToken))!));
    }

    private static async Task<IResult> RetryAsync(string name, HttpContext context, ProjectionAdmin projections, CancellationToken cancellationToken)
    {
        if (await projections.GetStatusAsync(name, cancellationToken) is null) return Unknown(context, name);
        if (!await projections.RetryAsync(name, cancellationToken)) return NotFailed(context, name);
        return TypedResults.Accepted("/api/v1/projections", ProjectionView.From((await projections.GetStatusAsync(name, cancellationToken))!));
    }

    private static async Task<IResult> SkipAsync(string name, HttpContext context, ProjectionAdmin projections, CancellationToken cancellationToken)
    {
        if (await projections.GetStatusAsync(name, cancellationToken) is null) return Unknown(context, name);
        var caller = ApiKeyCaller.FromPrincipal(context.User)!;
        var skipped = await projections.SkipAsync(name, caller.Name, cancellationToken);
        return skipped is null ? NotFailed(context, name) : TypedResults.Accepted("/api/v1/projections", skipped);
    }

    private static LedgerResponse Unknown(HttpContext context, string name) =>
        LedgerResponse.Problem(context, StatusCodes.Status404NotFound, ProblemTypes.NotFound, "No such projection.",
            $"There is no projection '{name}'; GET /api/v1/projections lists them.");

    private static LedgerResponse NotFailed(HttpContext context, string name) =>
        LedgerResponse.Problem(context, StatusCodes.Status409Conflict, ProblemTypes.Conflict, "The projection has not failed.",
            $"Projection '{name}' is running; retry and skip apply only to a failed projection.");
}
