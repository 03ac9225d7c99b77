namespace Ledger.Api.Features;

/// <summary>What the OpenAPI document shows for the projection endpoints (docs/api.md, docs/projections.md).</summary>
internal static class ProjectionsExamples
{
    public const string Name = "A projection: unit-status, factory-throughput, milestones or deployments.";

    public const string Rebuilding = """
        {"name": "factory-throughput", "state": "running", "position": 48213, "cursor": "48213", "lagEvents": 0, "lagSeconds": 0,
         "ownerNode": "ledger-a-4127-9f2c1e", "ownerSince": "2025-07-29T06:00:00+00:00", "failure": null,
         "rebuild": {"requestedAt": "2025-07-29T07:00:00+00:00", "startedAt": "2025-07-29T07:00:01+00:00", "eventsDone": 600000,
                     "eventsTotal": 1000000, "eventsPerSecond": 41000.5, "etaSeconds": 9.8},
         "lastRebuildFinishedAt": null, "updatedAt": "2025-07-29T07:00:15+00:00", "kind": "read-model"}
        """;

    public const string PausedSubscription = """
        {"name": "integration", "state": "paused", "position": 48190, "cursor": "48190", "lagEvents": 23, "lagSeconds": 12.5,
         "ownerNode": "ledger-a-4127-9f2c1e", "ownerSince": null,
         "failure": {"error": "System.InvalidOperationException: No route for ledger.unit-shipped.v1.", "eventId": "0193a5e4-7c1f-7cc3-9a36-5d3d2b1f8e10",
                     "position": 48191, "failedAt": "2025-07-29T07:00:12+00:00", "duringRebuild": false, "category": "ApplyEvent"},
         "rebuild": null, "lastRebuildFinishedAt": null, "updatedAt": "2025-07-29T07:00:00+00:00", "kind": "subscription"}
        """;

    public const string List = $"[{Rebuilding}, {PausedSubscription}]";

    public const string Health = """
        {"headPosition": 48213, "projections": [
          {"name": "unit-status", "state": "running", "position": 48213, "lagEvents": 0, "lagSeconds": 0, "rebuilding": false},
          {"name": "factory-throughput", "state": "running", "position": 48213, "lagEvents": 0, "lagSeconds": 0, "rebuilding": false},
          {"name": "milestones", "state": "running", "position": 48200, "lagEvents": 13, "lagSeconds": 0.4, "rebuilding": false},
          {"name": "deployments", "state": "running", "position": 48213, "lagEvents": 0, "lagSeconds": 0, "rebuilding": false}],
         "subscriptions": [
          {"name": "integration", "state": "running", "position": 48213, "lagEvents": 0, "lagSeconds": 0},
          {"name": "integration-milestones", "state": "paused", "position": 48190, "lagEvents": 23, "lagSeconds": 12.5}]}
        """;

    public const string Retried = """
        {"name": "deployments", "state": "running", "position": 48100, "cursor": "48100", "lagEvents": 113, "lagSeconds": 42.7,
         "ownerNode": "ledger-b-3311-0a7d42", "ownerSince": "2025-07-29T06:00:00+00:00", "failure": null, "rebuild": null,
         "lastRebuildFinishedAt": null, "updatedAt": "2025-07-29T07:02:00+00:00", "kind": "read-model"}
        """;

    public const string Skipped = """
        {"eventId": "0193a5e4-7c1f-7cc3-9a36-5d3d2b1f8e10", "position": 48101,
         "error": "System.InvalidOperationException: Unit SHA-2025-000777 was shipped before it was built."}
        """;
}
