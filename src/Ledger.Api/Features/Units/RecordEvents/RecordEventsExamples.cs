namespace Ledger.Api.Features.Units.RecordEvents;

/// <summary>What the OpenAPI document shows for the write endpoints: the bodies of docs/api.md.</summary>
internal static class RecordEventsExamples
{
    public const string Description = """
        The body is one event object or an array of up to 1,000, recorded in order, all or none. An event is
        `{"eventId"?, "type", "occurredAt", "data"}`: `type` is one of UnitBuilt, UnitTested, UnitReworked, UnitShipped,
        ShipmentCancelled, UnitDelivered, UnitCommissioned, UnitScrapped (fields per type in docs/api.md, "Event catalogue");
        `occurredAt` is RFC 3339 with an offset. Send `eventId` on every event, or an `Idempotency-Key`, so that a retry is
        recorded once. `If-Match: "<version>"` makes the post conditional on the unit's version (412 otherwise).
        """;

    public const string BatchDescription = """
        Up to 1,000 events across any number of units, each naming its `serial`: all are recorded or none. One bad event
        refuses the whole batch and the problem names it (`errors["events[537].data.nameplateKwh"]`, or `index` for a broken
        rule). Retries: `eventId` on every event, or an `Idempotency-Key`.
        """;

    public const string IfMatch = "The unit's current version, quoted (`\"0\"`: the unit must not exist yet); another version answers 412.";

    public const string IdempotencyKey =
        "1 to 255 visible ASCII characters. A retry with the same key and request gets the first answer again and writes nothing; kept 24 hours.";

    public const string Serial = "The unit's serial: 3 to 64 of A-Z, 0-9 and '-', starting and ending with a letter or digit (trimmed, upper-cased).";

    public const string OneEvent = """
        {"eventId": "0193a5e4-7c1f-7cc3-9a36-5d3d2b1f8e10", "type": "UnitBuilt", "occurredAt": "2025-07-20T09:12:00+08:00",
         "data": {"factoryId": "shanghai", "line": "MP-L1", "model": "Megapack 2 XL", "nameplateKwh": 3916}}
        """;

    public const string SeveralEvents = """
        [{"eventId": "0193a5e4-7c1f-7cc3-9a36-5d3d2b1f8e11", "type": "UnitTested", "occurredAt": "2025-07-21T09:10:00+08:00",
          "data": {"station": "EOL-03", "result": "passed", "measuredKwh": 3890.4, "roundTripEfficiency": 0.92}},
         {"eventId": "0193a5e4-7c1f-7cc3-9a36-5d3d2b1f8e12", "type": "UnitShipped", "occurredAt": "2025-07-28T10:00:00+08:00",
          "data": {"destination": {"country": "DE", "site": "Bollingstedt"}, "carrier": "COSCO Shipping", "shipmentId": "SHP-2025-0420"}}]
        """;

    public const string UnitReceipt = """
        {"serial": "SHA-2025-001000", "version": 1, "position": 48213,
         "events": [{"index": 0, "eventId": "0193a5e4-7c1f-7cc3-9a36-5d3d2b1f8e10", "type": "UnitBuilt", "version": 1, "position": 48213}]}
        """;

    public const string Batch = """
        {"events": [
          {"serial": "SHA-2025-000998", "type": "UnitTested", "occurredAt": "2025-07-20T09:10:00+08:00",
           "data": {"station": "EOL-03", "result": "passed", "measuredKwh": 3890.4, "roundTripEfficiency": 0.92}},
          {"serial": "SHA-2025-000999", "type": "UnitBuilt", "occurredAt": "2025-07-20T09:12:00+08:00",
           "data": {"factoryId": "shanghai", "line": "MP-L1", "model": "Megapack 2 XL", "nameplateKwh": 3916}}]}
        """;

    public const string BatchReceipt = """
        {"units": [
          {"serial": "SHA-2025-000998", "version": 2, "position": 48220,
           "events": [{"index": 0, "eventId": "0193a5e5-0a11-7d2e-8b4f-2f6c1d9e0a01", "type": "UnitTested", "version": 2, "position": 48220}]},
          {"serial": "SHA-2025-000999", "version": 1, "position": 48221,
           "events": [{"index": 1, "eventId": "0193a5e5-0a11-7d2e-8b4f-2f6c1d9e0a02", "type": "UnitBuilt", "version": 1, "position": 48221}]}],
         "position": 48221}
        """;
}
