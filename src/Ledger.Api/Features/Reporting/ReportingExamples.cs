namespace Ledger.Api.Features.Reporting;

/// <summary>What the OpenAPI document shows for the reports (docs/api.md, "Reports").</summary>
internal static class ReportingExamples
{
    public const string MinPosition =
        "Read your writes: the position of a write; the read waits up to 5 seconds for the read model to reach it (X-Ledger-Behind: true if it did not).";

    public const string Throughput = """
        {"factoryId": "shanghai", "bucket": "month", "from": "2025-02-11", "to": "2025-08-10", "nameplateUnitsPerYear": 10000,
         "buckets": [{"bucketStart": "2025-07-01", "lastDay": "2025-07-31", "unitsBuilt": 212, "testsPassed": 221, "testsFailed": 9,
                      "firstTests": 213, "firstTestsPassed": 204, "firstPassYield": 0.9577, "unitsShipped": 190,
                      "builtMwh": 830.19, "shippedMwh": 744.04, "cumulativeUnitsBuilt": 1003, "unitsBuiltTrailing30Days": 205,
                      "runRateUnitsPerYear": 2494.17, "utilization": 0.2494}]}
        """;

    public const string Milestones = """
        {"factoryId": "shanghai",
         "units": [{"factoryId": "shanghai", "nth": 1, "serial": "SHA-2025-000001", "occurredAt": "2025-02-11T01:00:00+00:00", "localDate": "2025-02-11"},
                   {"factoryId": "shanghai", "nth": 1000, "serial": "SHA-2025-001000", "occurredAt": "2025-07-29T06:40:00+00:00", "localDate": "2025-07-29"}],
         "firstShipmentsByRegion": [{"factoryId": "shanghai", "region": "Australia", "serial": "SHA-2025-000031", "country": "AU",
                                     "occurredAt": "2025-03-14T02:00:00+00:00", "localDate": "2025-03-14"}]}
        """;

    public const string Deployments = """
        {"groupBy": "region", "bucket": "quarter", "from": "2025-01-01", "to": "2025-12-31", "region": null,
         "buckets": [{"bucketStart": "2025-07-01", "region": "Europe", "country": null, "site": null, "unitsShipped": 120, "shippedMwh": 469.92,
                      "unitsDelivered": 80, "deliveredMwh": 313.28, "unitsCommissioned": 31, "commissionedMwh": 121.4}],
         "inTransit": [{"region": "Europe", "country": null, "site": null, "units": 40, "mwh": 156.64}]}
        """;
}
