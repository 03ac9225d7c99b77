namespace Ledger.Api.Features.Units;

/// <summary>What the OpenAPI document shows for the unit reads (docs/api.md, "Reading units").</summary>
internal static class UnitStatusExamples
{
    public const string Unit = """
        {"serial": "SHA-2025-001000", "factoryId": "shanghai", "line": "MP-L1", "model": "Megapack 2 XL", "nameplateKwh": 3916,
         "state": "in-transit",
         "latestTest": {"result": "passed", "station": "EOL-03", "measuredKwh": 3890.4, "roundTripEfficiency": 0.92, "failureCode": null,
                        "testedAt": "2025-07-21T01:10:00+00:00"},
         "shipmentId": "SHP-2025-0420", "carrier": "COSCO Shipping",
         "destination": {"country": "DE", "region": "Europe", "site": "Bollingstedt"}, "site": null,
         "builtAt": "2025-07-20T01:12:00+00:00", "testedAt": "2025-07-21T01:10:00+00:00", "reworkedAt": null,
         "shippedAt": "2025-07-28T02:00:00+00:00", "deliveredAt": null, "commissionedAt": null, "scrappedAt": null,
         "lastOccurredAt": "2025-07-28T02:00:00+00:00", "version": 3, "position": 48230}
        """;

    public const string Page = """
        {"units": [
          {"serial": "SHA-2025-000031", "factoryId": "shanghai", "line": "MP-L1", "model": "Megapack 2 XL", "nameplateKwh": 3916,
           "state": "commissioned",
           "latestTest": {"result": "passed", "station": "EOL-01", "measuredKwh": 3902.7, "roundTripEfficiency": 0.93, "failureCode": null,
                          "testedAt": "2025-02-27T03:40:00+00:00"},
           "shipmentId": "SHP-2025-0007", "carrier": "MSC", "destination": {"country": "AU", "region": "Australia", "site": "Collie Battery, Western Australia"},
           "site": "Collie Battery, Western Australia",
           "builtAt": "2025-02-26T06:05:00+00:00", "testedAt": "2025-02-27T03:40:00+00:00", "reworkedAt": null,
           "shippedAt": "2025-03-14T02:00:00+00:00", "deliveredAt": "2025-04-09T00:30:00+00:00", "commissionedAt": "2025-06-02T04:00:00+00:00",
           "scrappedAt": null, "lastOccurredAt": "2025-06-02T04:00:00+00:00", "version": 5, "position": 3120}],
         "next": "dTpTSEEtMjAyNS0wMDAwMzE"}
        """;
}
