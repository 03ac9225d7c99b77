using Ledger.EventStore.Schema;
using Npgsql;

namespace Ledger.EventStore.Projections;

/// <summary>
/// Takes the indexes (primary key and unique constraints included) off an empty table a rebuild is about to fill with
/// COPY, and puts them back once the rows are in: one index build over the table costs much less than maintaining every
/// index row by row through the COPY (docs/projections.md, "The bulk replay"). The indexes come back with the names and
/// definitions they had, read from the catalog; nothing is parsed.
/// </summary>
public static class DeferredIndexes
{
    private static readonly string Definitions = SqlResources.Read(typeof(DeferredIndexes).Assembly, "projection_rebuild_deferred_indexes.sql");

    /// <summary>
    /// Drops the indexes of <paramref name="table"/> (schema-qualified and quoted as SQL writes it) in
    /// <paramref name="transaction"/>; returns the statements that create them again, in order (constraints first).
    /// </summary>
    public static async Task<IReadOnlyList<string>> DropAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, string table, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentException.ThrowIfNullOrEmpty(table);
        var creates = new List<string>();
        var drops = new List<string>();
        await using (var command = new NpgsqlCommand(Definitions, connection, transaction))
        {
            command.Parameters.Add(ProjectionRebuild.Text("table", table));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                creates.Add(reader.GetString(0));
                drops.Add(reader.GetString(1));
            }
        }

        foreach (var drop in drops) await ProjectionRebuild.ExecuteAsync(connection, transaction, drop, cancellationToken);
        return creates;
    }

    /// <summary>Runs the statements <see cref="DropAsync"/> returned, in <paramref name="transaction"/>.</summary>
    public static async Task CreateAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, IEnumerable<string> creates, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(creates);
        foreach (var create in creates) await ProjectionRebuild.ExecuteAsync(connection, transaction, create, cancellationToken);
    }
}
