using Ledger.Api.Access;
using Ledger.Api.Features.Integration;
using Ledger.Api.Http;
using Ledger.Api.ServiceDefaults;
using Ledger.Api.ServiceDefaults.OpenApi;
using Ledger.EventStore.Projections;
using Ledger.ReadModels;

namespace Ledger.Api.Features;

/// <summary>A rebuild under way, as operators read it.</summary>
public sealed record RebuildView(DateTimeOffset RequestedAt, DateTimeOffset? StartedAt, long EventsDone, long EventsTotal, double EventsPerSecond, double? EtaSeconds);

/// <summary>
/// Where a projection stands, as operators read it. <c>Cursor</c> is the feed cursor it has applied every event up to: the
/// position as text (<c>inline</c> for unit-status, written with the events). <c>Kind</c> tells the read models
/// (<c>read-model</c>) from the integration subscriptions (<c>subscription</c>), which publish integration events instead of
/// answering reports: their state is the daemon's (<c>running</c>, <c>paused</c>, <c>stopped</c>), they are never rebuilt,
/// and their owner is the node holding them now, with no <c>ownerSince</c>.
/// </summary>
public sealed record ProjectionView(
    string Name, string State, long Position, string Cursor, long LagEvents, double LagSeconds, string? OwnerNode, DateTimeOffset? OwnerSince,
    ProjectionFailure? Failure, RebuildView? Rebuild, DateTimeOffset? LastRebuildFinishedAt, DateTimeOffset UpdatedAt, string Kind = ProjectionView.ReadModel)
{
    /// <summary>The <see cref="Kind"/> of the read models.</summary>
    public const string ReadModel = "read-model";

    /// <summary>The <see cref="Kind"/> of the integration subscriptions.</summary>
    public const string Subscription = "subscription";

    internal static ProjectionView From(ProjectionStatus s) => new(
        s.Name, s.State == ProjectionState.Running ? "running" : "failed", s.Cursor.Position, s.Cursor.ToString(), s.LagEvents,
        Math.Round(s.Lag.TotalSeconds, 3), s.OwnerNode, s.OwnerSince, s.Failure,
        s.Rebuild is { } r ? new RebuildView(r.RequestedAt, r.StartedAt, r.EventsDone, r.EventsTotal, Math.Round(r.EventsPerSecond, 1), r.EstimatedRemaining?.TotalSeconds) : null,
        s.LastRebuildFinishedAt, s.UpdatedAt);

    internal static ProjectionView From(SubscriptionStatus s) => new(
        s.Name, StateText(s.State), s.Cursor.Position, s.Cursor.ToString(), s.LagEvents, Math.Round(s.Lag.TotalSeconds, 3), s.OwnerNode,
        OwnerSince: null, s.Failure, Rebuild: null, LastRebuildFinishedAt: null, s.UpdatedAt ?? s.StateSince ?? DateTimeOffset.UnixEpoch, Subscription);

    internal static string StateText(SubscriptionState state) => state switch
    {
        SubscriptionState.Paused => "paused",
        SubscriptionState.Stopped => "stopped",
        _ => "running",
    };
}

/// <summary>
/// A read model's health as reporting services see it: whether the reports it answers are current. Who runs it and why it
/// failed are the operator's (<see cref="ProjectionView"/>, auditor).
/// </summary>
public sealed record ProjectionHealthView(string Name, string State, long Position, long LagEvents, double LagSeconds, bool Rebuilding);

/// <summary>
/// An integration subscription's health: whether downstream systems are hearing of what the ledger records
/// (<c>running</c>, <c>paused</c> or <c>stopped</c>, and how far behind).
/// </summary>
public sealed record SubscriptionHealthView(string Name, string State, long Position, long LagEvents, double LagSeconds);

/// <summary>Every read model's and integration subscription's health, and the head of the feed they are measured against.</summary>
public sealed record ProjectionHealthResponse(long HeadPosition, IReadOnlyList<ProjectionHealthView> Projections, IReadOnlyList<SubscriptionHealthView> Subscriptions);

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
            .WithDescription("""
                The read models (kind read-model): unit-status is inline (written with the events, never behind); the others
                are kept by the projection daemons (docs/projections.md). With include=subscriptions, then the integration
                subscriptions (kind subscription), which the same daemons run to publish integration events
                (docs/integration-events.md): state running, paused (after a failed batch; the daemon starts it again after
                5 s) or stopped (no node runs it), never rebuilt, retried or skipped. Without it the list is the read models
                only, as it always was.
                """)
            .WithParameter("include", "subscriptions: list the integration subscriptions after the read models.")
            .WithResponseExample(StatusCodes.Status200OK, ProjectionsExamples.List)
            .Produces<IReadOnlyList<ProjectionView>>()
            .ProducesValidationProblem()
            .RequireRole(LedgerRole.Auditor);
        api.MapGet("/projections/health", HealthAsync)
            .WithName("GetProjectionHealth")
            .WithSummary("Each read model's and integration subscription's state, position and lag against the head of the feed: whether reports are current and downstream systems hear of what is recorded.")
            .WithDescription("For reporting services and the dashboard: no owner nodes or failure messages (GET /api/v1/projections has those, for auditors). subscriptions: the same for the integration subscriptions, whether downstream systems are hearing of what is recorded. The head is read after the checkpoints and subscriptions, so none is ever shown ahead of it.")
            .WithResponseExample(StatusCodes.Status200OK, ProjectionsExamples.Health)
            .Produces<ProjectionHealthResponse>()
            .RequireRole(LedgerRole.Reporting);
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

    private static async Task<IResult> ListAsync(
        string? include, HttpContext context, ProjectionAdmin projections, UnitStatusRebuilds inline, IntegrationSubscriptions subscriptions,
        EventStore.EventStore store, CancellationToken cancellationToken)
    {
        // Opt-in: clients that read this list before the subscriptions were shown get the read models only, as before.
        if (include is not null && include != "subscriptions")
        {
            return LedgerResponse.Validation(context, new Dictionary<string, string[]>(StringComparer.Ordinal) { ["include"] = ["Must be subscriptions."] },
                "Fix the query parameters named in errors.");
        }

        var (views, subscribed, _) = await ViewsAsync(projections, inline, include is null ? [] : subscriptions.Names, store, cancellationToken);
        return TypedResults.Ok<IReadOnlyList<ProjectionView>>([.. views, .. subscribed.Select(ProjectionView.From)]);
    }

    private static async Task<IResult> HealthAsync(
        ProjectionAdmin projections, UnitStatusRebuilds inline, IntegrationSubscriptions subscriptions, EventStore.EventStore store,
        CancellationToken cancellationToken)
    {
        var (views, subscribed, head) = await ViewsAsync(projections, inline, subscriptions.Names, store, cancellationToken);
        return TypedResults.Ok(new ProjectionHealthResponse(head,
            [.. views.Select(v => new ProjectionHealthView(v.Name, v.State, v.Position, v.LagEvents, v.LagSeconds, v.Rebuild is not null))],
            [.. subscribed.Select(s => new SubscriptionHealthView(
                s.Name, ProjectionView.StateText(s.State), s.Cursor.Position, s.LagEvents, Math.Round(s.Lag.TotalSeconds, 3)))]));
    }

    private static async Task<(List<ProjectionView> Views, IReadOnlyList<SubscriptionStatus> Subscriptions, long Head)> ViewsAsync(
        ProjectionAdmin projections, UnitStatusRebuilds inline, IReadOnlyList<string> subscriptions, EventStore.EventStore store,
        CancellationToken cancellationToken)
    {
        var statuses = await projections.GetStatusAsync(cancellationToken);
        var subscribed = await projections.GetSubscriptionStatusAsync(subscriptions, cancellationToken);
        // Read after the checkpoints and progressions, so nothing is ever shown ahead of the head it is compared with.
        var head = await store.GetHeadPositionAsync(cancellationToken);
        var views = statuses.Select(ProjectionView.From).ToList();
        views.Insert(0, InlineView(inline, head));
        return (views, subscribed, head);
    }

    /// <summary>UnitStatus is written with the events, so it is always at the head of the feed, never behind.</summary>
    private static ProjectionView InlineView(UnitStatusRebuilds inline, long head)
    {
        var rebuild = inline.IsRunning && inline.RequestedAt is { } requested
            ? new RebuildView(requested, requested, inline.Progress.Done, inline.Progress.Total, 0, null)
            : null;
        var failure = inline.Error is { } error ? new ProjectionFailure(error, null, null, inline.FinishedAt, DuringRebuild: true) : null;
        return new ProjectionView(UnitStatusProjection.Name, "running", head, "inline", 0, 0, null, null, failure, rebuild,
            inline.FinishedAt, inline.FinishedAt ?? DateTimeOffset.UnixEpoch);
    }

    private static async Task<IResult> RebuildAsync(
        string name, HttpContext context, ProjectionAdmin projections, UnitStatusRebuilds inline, IntegrationSubscriptions subscriptions,
        EventStore.EventStore store, CancellationToken cancellationToken)
    {
        if (name == UnitStatusProjection.Name)
        {
            return inline.TryStart()
                ? TypedResults.Accepted("/api/v1/projections", InlineView(inline, await store.GetHeadPositionAsync(cancellationToken)))
                : LedgerResponse.Problem(context, StatusCodes.Status409Conflict, ProblemTypes.Conflict, "A rebuild is already under way.",
                    "unit-status is already being rebuilt on this node; GET /api/v1/projections shows its progress.");
        }

        if (await projections.GetStatusAsync(name, cancellationToken) is null) return Unknown(context, name, subscriptions);
        if (!await projections.RequestRebuildAsync(name, cancellationToken))
        {
            return LedgerResponse.Problem(context, StatusCodes.Status409Conflict, ProblemTypes.Conflict, "A rebuild is already under way.",
                $"Projection '{name}' is already being rebuilt; GET /api/v1/projections shows its progress.");
        }

        return TypedResults.Accepted("/api/v1/projections", ProjectionView.From((await projections.GetStatusAsync(name, cancellationToken))!));
    }

    private static async Task<IResult> RetryAsync(
        string name, HttpContext context, ProjectionAdmin projections, IntegrationSubscriptions subscriptions, CancellationToken cancellationToken)
    {
        if (await projections.GetStatusAsync(name, cancellationToken) is null) return Unknown(context, name, subscriptions);
        if (!await projections.RetryAsync(name, cancellationToken)) return NotFailed(context, name);
        return TypedResults.Accepted("/api/v1/projections", ProjectionView.From((await projections.GetStatusAsync(name, cancellationToken))!));
    }

    private static async Task<IResult> SkipAsync(
        string name, HttpContext context, ProjectionAdmin projections, IntegrationSubscriptions subscriptions, CancellationToken cancellationToken)
    {
        if (await projections.GetStatusAsync(name, cancellationToken) is null) return Unknown(context, name, subscriptions);
        var caller = ApiKeyCaller.FromPrincipal(context.User)!;
        try
        {
            var skipped = await projections.SkipAsync(name, caller.Name, cancellationToken);
            return skipped is null ? NotFailed(context, name) : TypedResults.Accepted("/api/v1/projections", skipped);
        }
        catch (SkipRefusedException refused)
        {
            return LedgerResponse.Problem(context, StatusCodes.Status409Conflict, ProblemTypes.Conflict, "Nothing to skip.", refused.Message);
        }
    }

    private static LedgerResponse Unknown(HttpContext context, string name, IntegrationSubscriptions subscriptions) =>
        LedgerResponse.Problem(context, StatusCodes.Status404NotFound, ProblemTypes.NotFound, "No such projection.",
            subscriptions.Names.Contains(name)
                ? $"'{name}' is an integration subscription, not a read model: it is never rebuilt or skipped, and the daemon runs a failed batch again by itself after 5 s. GET /api/v1/projections?include=subscriptions shows where it stands."
                : $"There is no projection '{name}'; GET /api/v1/projections lists them.");

    private static LedgerResponse NotFailed(HttpContext context, string name) =>
        LedgerResponse.Problem(context, StatusCodes.Status409Conflict, ProblemTypes.Conflict, "The projection has not failed.",
            $"Projection '{name}' is running; retry and skip apply only to a failed projection.");
}
