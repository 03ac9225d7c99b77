using Ledger.Api.ServiceDefaults;

namespace Ledger.Api.Features.Audit;

/// <summary>What the OpenAPI document shows for the audit endpoints (docs/auditing.md).</summary>
internal static class AuditExamples
{
    public const string Digest = """
        {"blockNumber": 48, "eventCount": 1000, "lastPosition": 48007, "sealedEvents": 48000,
         "merkleRoot": "53c11143e59ce9c2d54d8e256f1578e8e65cfab01a89fe5931d40479f2f386bf",
         "chainHash": "ad7f6b1f0af968aba12620504c67c20fda0b0b3768793604388d2b140ebb54ec", "sealedAt": "2025-07-29T07:37:48.679701+00:00"}
        """;

    public const string Proof = """
        {"event": {"eventId": "01a20230-873f-7cea-a6af-013b6f3aa51d", "streamId": "SHA-2025-000004", "streamVersion": 1, "position": 4,
                   "type": "unit-built.v1", "data": {"line": "MP-L1", "model": "Megapack 2 XL", "factoryId": "shanghai", "nameplateKwh": 3916},
                   "metadata": {"actor": "sha-eol-1", "actorId": "01a20230-30df-783b-95ad-018f3fa8f4b5", "correlationId": "mes-7"},
                   "occurredAt": "2025-02-11T01:00:00.000000Z", "recordedAt": "2025-02-11T01:00:02.514510Z", "previousHash": null,
                   "hash": "7cd0096fec09620cba09efd72205d68a763674808b4395de9934c78a1fa6fb81"},
         "block": {"number": 1, "eventCount": 5, "firstPosition": 1, "lastPosition": 5,
                   "merkleRoot": "53c11143e59ce9c2d54d8e256f1578e8e65cfab01a89fe5931d40479f2f386bf", "previousChainHash": null,
                   "chainHash": "ad7f6b1f0af968aba12620504c67c20fda0b0b3768793604388d2b140ebb54ec", "sealedAt": "2025-02-11T01:00:07.679701+00:00"},
         "leafIndex": 3, "leafHash": "0b7f1c2e9a4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7",
         "auditPath": ["6a54502773bfeb69f3df4251758ba7e97bd64bad4eb1b2c963f399426cf6be81",
                       "2f1e0d9c8b7a69584736251403f2e1d0c9b8a79685746352413021f0e1d2c3b4",
                       "a674f58a1736e13e804142ef6183096547424b3a697c0b023faed7b6b1713e9a"]}
        """;

    public const string VerifyRequest = """
        {"digest": {"blockNumber": 48, "chainHash": "ad7f6b1f0af968aba12620504c67c20fda0b0b3768793604388d2b140ebb54ec"}}
        """;

    public const string VerifyReport = """
        {"ok": false, "eventsChecked": 48213, "streamsChecked": 9870, "blocksChecked": 48, "sealedEvents": 48000, "unsealedEvents": 213,
         "digest": {"blockNumber": 48, "expectedChainHash": "ad7f6b1f0af968aba12620504c67c20fda0b0b3768793604388d2b140ebb54ec",
                    "recomputedChainHash": "84a1852214671583da0c9e44352330d2cf4d0fdda5e786642787cc2fc9167e0e", "matches": false},
         "firstMismatch": {"kind": "event-hash", "message": "event at position 3 (stream SHA-2025-000003 version 1, id 01a20230-8706-70d6-b28e-fa220cc4f159) was changed after it was recorded: its content hashes to 32024ad3677217f1d0c60fbdf0cef09680b93b8832212bccfe5b36060b90dddf, the ledger recorded 6a54502773bfeb69f3df4251758ba7e97bd64bad4eb1b2c963f399426cf6be81",
                           "streamId": "SHA-2025-000003", "streamVersion": 1, "position": 3, "eventId": "01a20230-8706-70d6-b28e-fa220cc4f159",
                           "blockNumber": null, "expected": "6a54502773bfeb69f3df4251758ba7e97bd64bad4eb1b2c963f399426cf6be81",
                           "actual": "32024ad3677217f1d0c60fbdf0cef09680b93b8832212bccfe5b36060b90dddf"},
         "mismatches": [{"kind": "event-hash", "message": "event at position 3 (stream SHA-2025-000003 version 1, ...) was changed after it was recorded",
                         "streamId": "SHA-2025-000003", "streamVersion": 1, "position": 3, "eventId": "01a20230-8706-70d6-b28e-fa220cc4f159",
                         "blockNumber": null, "expected": "6a54502773bfeb69f3df4251758ba7e97bd64bad4eb1b2c963f399426cf6be81",
                         "actual": "32024ad3677217f1d0c60fbdf0cef09680b93b8832212bccfe5b36060b90dddf"}],
         "mismatchesTruncated": false}
        """;

    public const string Busy = $$"""
        {"type": "{{ProblemTypes.VerificationBusy}}", "title": "A verification is already running.", "status": 429,
         "detail": "This node verifies one ledger at a time; retry after the Retry-After seconds.", "correlationId": "0197a3c4-5e2b-7c8d-9e0f-1a2b3c4d5e6f"}
        """;

    public const string EventId = "The event's id (a UUID), as GET /api/v1/units/{serial}/events or the feed shows it.";
}
