namespace Ledger.Api.Features.History;

/// <summary>What the OpenAPI document shows for the history endpoints (docs/api.md, "History").</summary>
internal static class HistoryExamples
{
    private const string Event = """
        {"position": 48213, "cursor": "ZjoxMDIyLjQ4MjEz", "eventId": "0193a5e4-7c1f-7cc3-9a36-5d3d2b1f8e10", "serial": "SHA-2025-001000",
         "version": 1, "type": "UnitBuilt", "storedType": "unit-built.v1",
         "data": {"factoryId": "shanghai", "line": "MP-L1", "model": "Megapack 2 XL", "nameplateKwh": 3916},
         "occurredAt": "2025-07-20T01:12:00+00:00", "recordedAt": "2025-07-20T01:12:03.512204+00:00",
         "actor": "sha-mes-line1", "actorId": "0197a3c4-5e2b-7c8d-9e0f-1a2b3c4d5e6f", "correlationId": "mes-7",
         "idempotencyKey": "5b0e6a8e-1f7e-4b8a-9a61-3c1f2f0b7d11",
         "hash": "9f2c4b1e0d7a6c5b8e3f2a1d0c9b8a7f6e5d4c3b2a190817263544536271809a"}
        """;

    public const string UnitHistory = $$"""{"serial": "SHA-2025-001000", "version": 1, "events": [{{Event}}]}""";

    public const string Feed = $$"""{"events": [{{Event}}], "next": "ZjoxMDIyLjQ4MjEz"}""";

    /// <summary>With <c>Accept: application/x-ndjson</c>: one event a line.</summary>
    public const string FeedNdJson = """
        {"position":48213,"cursor":"ZjoxMDIyLjQ4MjEz","eventId":"0193a5e4-7c1f-7cc3-9a36-5d3d2b1f8e10","serial":"SHA-2025-001000","version":1,"type":"UnitBuilt","storedType":"unit-built.v1","data":{"factoryId":"shanghai","line":"MP-L1","model":"Megapack 2 XL","nameplateKwh":3916},"occurredAt":"2025-07-20T01:12:00+00:00","recordedAt":"2025-07-20T01:12:03.512204+00:00","actor":"sha-mes-line1","actorId":"0197a3c4-5e2b-7c8d-9e0f-1a2b3c4d5e6f","correlationId":"mes-7","idempotencyKey":null,"hash":"9f2c4b1e0d7a6c5b8e3f2a1d0c9b8a7f6e5d4c3b2a190817263544536271809a"}

        """;
}
