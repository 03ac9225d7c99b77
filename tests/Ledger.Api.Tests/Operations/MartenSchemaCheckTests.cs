using Ledger.Api.Tests.Support;
using Ledger.Testing;
using Npgsql;

namespace Ledger.Api.Tests.Operations;

/// <summary>
/// Marten never creates or changes the schema in this service (docs/operations.md, "Marten's schema"): a node refuses to
/// start on a database whose Marten tables or functions are not what it is configured for, rather than failing at the
/// first append that meets the difference.
/// </summary>
public sealed class MartenSchemaCheckTests(DatabaseFixture fixture) : IClassFixture<DatabaseFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_node_starts_on_the_migrated_schema_and_refuses_one_that_lost_part_of_Martens()
    {
        await using var db = await fixture.CreateDatabaseAsync(Ct);
        await using (var first = new LedgerApiFactory(db.ConnectionString))
        {
            using var client = first.CreateClient();
            using var ready = await client.GetAsync(new Uri("/health/ready", UriKind.Relative), Ct);
            Assert.True(ready.IsSuccessStatusCode, $"the first start answered {(int)ready.StatusCode}");
        }

        await using (var dataSource = NpgsqlDataSource.Create(db.ConnectionString))
        await using (var drop = dataSource.CreateCommand("drop index ledger.idx_mt_events_event_id"))
        {
            await drop.ExecuteNonQueryAsync(Ct);
        }

        await using var second = new LedgerApiFactory(db.ConnectionString);
        var failure = Assert.ThrowsAny<Exception>(() => second.CreateClient());
        var causes = new List<Exception>();
        for (Exception? e = failure; e is not null; e = e.InnerException) causes.Add(e);
        Assert.Contains(causes, e => e.Message.Contains("idx_mt_events_event_id", StringComparison.Ordinal));
    }
}
