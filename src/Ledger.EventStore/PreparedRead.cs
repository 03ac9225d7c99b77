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

/// <summary>
/// Several reads of one request sent to PostgreSQL as one prepared batch: one round trip instead of one per read.
/// Add the reads in the order they must run, then <see cref="ExecuteAsync"/>; each <see cref="PreparedBatch.Read{T}"/>
/// holds its rows afterwards.
/// </summary>
/// <remarks>
/// <para>On a machine whose cores PostgreSQL shares with the service and others, every round trip is a moment a process
/// must be woken and scheduled, and the p99 of a report was made of such waits landing on any of its reads, even a
/// 0.3 ms key lookup (issue 15, P5; docs/benchmarks.md, "the reports' tail"). A batch pays that once.</para>
/// <para>The statements run one after the other in one implicit transaction (one Sync), each read-committed statement
/// with a snapshot taken when it starts, so a later read sees at least what an earlier one saw: a read model's status read
/// first says a position the rows read after it reflect. Preparation is as <see cref="PreparedRead"/>'s: explicit, once
/// per pooled connection and text, in a round trip of its own, and only for reads outside any explicit transaction.</para>
/// </remarks>
public sealed class PreparedBatch
{
    private readonly List<(NpgsqlBatchCommand Command, Action<NpgsqlDataReader> Row)> _reads = [];
    private bool _executed;

    /// <summary>A read of the batch: its rows once the batch has run.</summary>
    public sealed class Read<T>
    {
        private readonly PreparedBatch _batch;
        internal readonly List<T> Buffer = [];

        internal Read(PreparedBatch batch) => _batch = batch;

        /// <summary>The rows, in the order PostgreSQL returned them.</summary>
        public IReadOnlyList<T> Rows =>
            _batch._executed ? Buffer : throw new InvalidOperationException("The batch has not run yet: await ExecuteAsync first.");
    }

    /// <summary>Adds a read: <paramref name="sql"/> (one statement, the same text on every call) with the parameters
    /// <paramref name="bind"/> adds, each row made by <paramref name="read"/>.</summary>
    public Read<T> Add<T>(string sql, Action<NpgsqlParameterCollection> bind, Func<NpgsqlDataReader, T> read)
    {
        ArgumentNullException.ThrowIfNull(sql);
        ArgumentNullException.ThrowIfNull(bind);
        ArgumentNullException.ThrowIfNull(read);
        if (_executed) throw new InvalidOperationException("The batch has run; start another.");
        var command = new NpgsqlBatchCommand(sql);
        bind(command.Parameters);
        var result = new Read<T>(this);
        _reads.Add((command, reader => result.Buffer.Add(read(reader))));
        return result;
    }

    /// <summary>Runs every read added, in order, in one round trip on a pooled connection (prepared on it if new to it).</summary>
    public async Task ExecuteAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        if (_executed) throw new InvalidOperationException("The batch has run already.");
        if (_reads.Count == 0) throw new InvalidOperationException("The batch has no reads.");
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var batch = new NpgsqlBatch(connection);
        foreach (var (command, _) in _reads) batch.BatchCommands.Add(command);
        await batch.PrepareAsync(cancellationToken);
        await using (var reader = await batch.ExecuteReaderAsync(cancellationToken))
        {
            for (var i = 0; i < _reads.Count; i++)
            {
                if (i > 0 && !await reader.NextResultAsync(cancellationToken))
                    throw new InvalidOperationException($"The batch returned {i} results for {_reads.Count} reads.");
                while (await reader.ReadAsync(cancellationToken)) _reads[i].Row(reader);
            }
        }

        _executed = true;
    }
}
