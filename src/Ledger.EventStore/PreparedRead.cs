using Npgsql;

namespace Ledger.EventStore;

/// <summary>
/// Runs a read that requests make on every call (the API-key lookup, the writers' stream reads, a read model's status,
/// the report and unit reads) as a statement prepared once per pooled connection: Npgsql keeps a connection's prepared
/// statements across pool returns, so PostgreSQL parses and plans the text once per connection instead of on every call.
/// Planning was most of these reads' cost (issue 15; docs/benchmarks.md, docs/architecture.md "Connections").
/// </summary>
/// <remarks>
/// <para>Preparation is explicit, and only for reads like these. Npgsql's automatic preparation stays off on every data
/// source <see cref="EventStoreDataSource"/> builds: with it, a statement that is being prepared and fails inside a
/// transaction which is then rolled back leaves the pooled connection out of step with the server ("Received unexpected
/// backend message DataRow", npgsql/npgsql#6391; it reproduced with Npgsql 10.0.0 and 10.0.3, and
/// <c>GroupCommitTests.A_request_that_breaks_the_transaction_is_refused_alone</c> hit it). The bug needs the Parse in the
/// same pipeline as an execution that fails in a transaction; a read here runs on a connection of its own, outside any
/// transaction (<c>GroupCommitTests.Prepared_stream_reads_and_refused_appends_take_turns_on_one_connection_without_breaking_it</c>
/// runs such reads and refused appends in turn on one pooled connection). Statements inside a transaction stay unprepared.</para>
/// <para>A prepared statement names its tables as its text does: a rebuild's swap (a rename) or a migration invalidates
/// its plan, and PostgreSQL analyzes the text again against the tables then in place.</para>
/// </remarks>
public static class PreparedRead
{
    /// <summary>
    /// Runs <paramref name="sql"/> with the parameters <paramref name="bind"/> adds, prepared on the pooled connection it
    /// gets (a no-op when that connection has prepared it before), and returns every row as <paramref name="read"/> makes it.
    /// </summary>
    /// <param name="dataSource">The process's data source (<see cref="EventStoreDataSource"/>).</param>
    /// <param name="sql">One statement, the same text on every call (parameters, never values, vary).</param>
    /// <param name="bind">Adds the parameters, typed as the statement expects them (the types are part of what is prepared).</param>
    /// <param name="read">Makes a row's result from the reader positioned on it.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    public static async Task<List<T>> ListAsync<T>(
        NpgsqlDataSource dataSource, string sql, Action<NpgsqlParameterCollection> bind, Func<NpgsqlDataReader, T> read,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        ArgumentNullException.ThrowIfNull(bind);
        ArgumentNullException.ThrowIfNull(read);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        bind(command.Parameters);
        await command.PrepareAsync(cancellationToken);
        var rows = new List<T>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken)) rows.Add(read(reader));
        return rows;
    }
}
