using Ledger.EventStore;
using Ledger.EventStore.Projections;
using Npgsql;

namespace Ledger.ReadModels.Tests.Support;

/// <summary>
/// A stand-in for the projection daemon (not ready yet): pages the feed and applies each page to the projections in one
/// transaction. The optional table mapping turns logical table names to physical ones, as a rebuild does with shadow tables.
/// </summary>
internal static class ProjectionDriver
{
    public static async Task<IReadOnlyList<RecordedEvent>> RunAsync(
        NpgsqlDataSource dataSource, IReadOnlyList<IProjection> projections, int batchSize, CancellationToken cancellationToken,
        Func<string, string>? table = null)
    {
        var applied = new List<RecordedEvent>();
        var cursor = FeedCursor.Start;
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        while (true)
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            var page = await EventStore.EventStore.ReadFeedAsync(connection, transaction, cursor, batchSize, cancellationToken);
            if (page.Events.Count == 0)
            {
                // The feed shows events up to the high-water mark, which trails the commits by a moment (Marten's
                // detector moves it), so an empty page is not the end until every stored event has been applied.
                if (applied.Count >= await CountEventsAsync(connection, transaction, cancellationToken)) return applied;
                if (DateTime.UtcNow > deadline)
                {
                    Assert.Fail($"The feed stopped at {cursor} with {applied.Count} events applied: its high-water mark did not move " +
                        "(no store running Marten's detection, or one that stopped before the mark reached its appends).");
                }

                await Task.Delay(20, cancellationToken);
                continue;
            }

            foreach (var projection in projections)
            {
                await projection.ApplyAsync(new ProjectionBatch(connection, transaction, page.Events, table ?? (name => name)), cancellationToken);
            }

            await transaction.CommitAsync(cancellationToken);
            applied.AddRange(page.Events);
            cursor = page.Next;
        }
    }

    private static async Task<long> CountEventsAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("select count(*) from ledger.events", connection, transaction);
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }
}
