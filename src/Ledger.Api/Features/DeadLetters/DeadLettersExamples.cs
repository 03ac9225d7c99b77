namespace Ledger.Api.Features.DeadLetters;

/// <summary>Examples for the API description (docs/api.md has the same).</summary>
internal static class DeadLettersExamples
{
    public const string Page = """
        {
          "total": 1,
          "page": 0,
          "deadLetters": [
            {
              "id": "0193a5e4-7c1f-7cc3-9a36-5d3d2b1f8e10",
              "messageType": "ledger.unit-shipped.v1",
              "destination": "rabbitmq://exchange/ledger.integration",
              "sentAt": "2026-12-06T09:30:01.204+00:00",
              "exceptionType": "RabbitMQ.Client.Exceptions.BrokerUnreachableException",
              "exceptionMessage": "None of the specified endpoints were reachable",
              "replayable": false
            }
          ]
        }
        """;

    public const string One = """
        {
          "id": "0193a5e4-7c1f-7cc3-9a36-5d3d2b1f8e10",
          "messageType": "ledger.purge-idempotency-keys",
          "destination": "local://durable/",
          "sentAt": "2026-12-06T09:00:00.012+00:00",
          "exceptionType": "Npgsql.PostgresException",
          "exceptionMessage": "57P01: terminating connection due to administrator command",
          "replayable": false
        }
        """;

    public const string Replay = """
        { "ids": ["0193a5e4-7c1f-7cc3-9a36-5d3d2b1f8e10", "0193a5e4-7c20-7d01-8c4e-2f6a9b0c1d2e"] }
        """;

    public const string Replayed = """
        { "replaying": ["0193a5e4-7c1f-7cc3-9a36-5d3d2b1f8e10"], "notFound": ["0193a5e4-7c20-7d01-8c4e-2f6a9b0c1d2e"] }
        """;
}
