using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using Ledger.Benchmarks.Infrastructure;
using Ledger.Benchmarks.Workload;
using Ledger.EventStore.Hashing;
using Ledger.Production.Units;
using Npgsql;
using NpgsqlTypes;

namespace Ledger.Benchmarks.Phases;

/// <summary>Rows per second that plain Npgsql gets from this server, in the same run as the ledger's figures.</summary>
/// <remarks>The microseconds are PostgreSQL's CPU per row inserted (all its processes), the figure to hold against the
/// ledger's CPU per appended event.</remarks>
internal sealed record RawResults(
    double Insert100RowsPerSecond, double Insert1RowsPerSecond, double CopyRowsPerSecond, long CopyRows, double ScanRowsPerSecond,
    double Insert100PostgresMicrosecondsPerRow, double Insert1PostgresMicrosecondsPerRow);

/// <summary>
/// What PostgreSQL itself does on this machine, with Npgsql used as well as it can be (explicitly prepared statements,
/// array parameters, binary COPY), on bare tables shaped exactly like ledger.mt_events, the table the service's appends
/// write (through Marten, issue 12), with the same indexes — no trigger, no mt_streams, no hash chain, no HTTP. The rows
/// carry what the service writes in each column (the generated Megapack events, the .NET type name, the actor and the
/// correlation id, and the headers object with a 64-hex-digit hash, the metadata object and the occurred-at), so row
/// sizes match.
/// </summary>
/// <remarks>
/// Until issue 12 the raw tables were shaped like the store's own table ledger.events; since migration 0006 that name is
/// a view over mt_events, and a baseline shaped like the view would leave out what the service really stores per event
/// (the headers jsonb, the type name, a varchar stream id) and carry an index (the feed's (transaction_id, position)) the
/// store no longer has. The methods are those of before; figures 1a-1d of runs before the change are on the old shape.
/// </remarks>
internal sealed class RawBaselines(BenchmarkCluster cluster, BenchmarkSettings settings, Action<string> log)
{
    public const string Database = "raw";

    /// <summary>
    /// The columns written per row. seq_id comes from the table's sequence, as Marten's append draws it from
    /// mt_events_sequence; tenant_id and is_archived take their defaults ('*DEFAULT*', false), which is what Marten writes
    /// into them for this store; bdata and causation_id stay null, as they do for every event the service appends.
    /// </summary>
    private const string Columns = "id, stream_id, version, data, type, timestamp, mt_dotnet_type, correlation_id, headers, user_name";

    /// <summary>
    /// The shape of ledger.mt_events (src/Ledger.EventStore/Sql/Migrations/0004_marten_events.sql, Marten 9.62.0) without
    /// its append-only triggers (0005) and without the foreign key to mt_streams (there is no streams table here).
    /// </summary>
    private const string CreateTable = """
        create sequence {0}_sequence;
        create table {0} (
            seq_id          bigint                   not null default nextval('{0}_sequence'),
            id              uuid                     not null,
            stream_id       varchar                  null,
            version         bigint                   not null,
            data            jsonb                    not null,
            bdata           bytea                    null,
            type            varchar(500)             not null,
            timestamp       timestamp with time zone not null default now(),
            tenant_id       varchar                  null default '*DEFAULT*',
            mt_dotnet_type  varchar                  null,
            correlation_id  varchar                  null,
            causation_id    varchar                  null,
            headers         jsonb                    null,
            user_name       varchar                  null,
            is_archived     bool                     null default false,
            constraint {0}_pkey primary key (seq_id)
        );
        alter sequence {0}_sequence owned by {0}.seq_id;
        create unique index on {0} (stream_id, version);
        create unique index on {0} (id);
        """;

    private RawRow[] _pool = [];

    public async Task<RawResults> RunAsync(CancellationToken cancellationToken)
    {
        await cluster.CreateDatabaseAsync(Database, cancellationToken);
        _pool = BuildPool(20_000);
        foreach (var table in new[] { "raw_batch", "raw_single", "raw_copy" })
        {
            await ExecuteAsync(string.Format(System.Globalization.CultureInfo.InvariantCulture, CreateTable, table), cancellationToken);
        }

        log($"raw: 100-row INSERT per transaction, 8 connections, {settings.RawSeconds} s");
        var batch = await TimedAsync("raw_batch", connections: 8, rowsPerTransaction: 100, cancellationToken);
        log($"  {batch.Rate:N0} rows/s; PostgreSQL CPU {batch.PostgresMicroseconds:N0} us/row");
        log($"raw: one-row INSERT per transaction, 16 connections, {settings.RawSeconds} s");
        var single = await TimedAsync("raw_single", connections: 16, rowsPerTransaction: 1, cancellationToken);
        log($"  {single.Rate:N0} rows/s; PostgreSQL CPU {single.PostgresMicroseconds:N0} us/row");
        log($"raw: binary COPY of {settings.LargeEvents:N0} rows");
        var copy = await CopyAsync("raw_copy", settings.LargeEvents, cancellationToken);
        log($"  {copy:N0} rows/s");
        await ExecuteAsync("vacuum (analyze) raw_copy", cancellationToken);
        log($"raw: full scan of {settings.LargeEvents:N0} rows into the client (median of 3)");
        var scan = await ScanAsync("raw_copy", cancellationToken);
        log($"  {scan:N0} rows/s");
        return new RawResults(batch.Rate, single.Rate, copy, settings.LargeEvents, scan, batch.PostgresMicroseconds, single.PostgresMicroseconds);
    }

    /// <summary>
    /// Checks that the raw tables still have ledger.mt_events's columns (name, type with its length, nullability) and
    /// indexes (uniqueness, method, key columns), in case Marten's schema or the store's migrations move on and this file
    /// does not; returns the differences, empty when none.
    /// </summary>
    public async Task<IReadOnlyList<string>> CompareWithLedgerAsync(string ledgerConnectionString, CancellationToken cancellationToken)
    {
        const string shape = """
            select 'column ' || column_name || ' ' || data_type || coalesce('(' || character_maximum_length || ')', '') || ' ' || is_nullable
            from information_schema.columns where table_schema = @schema and table_name = @table
            union all
            select 'index ' || case when indexdef like 'CREATE UNIQUE INDEX %' then 'unique ' else '' end
                   || regexp_replace(indexdef, '^.* USING ', '')
            from pg_indexes where schemaname = @schema and tablename = @table
            """;
        async Task<HashSet<string>> ShapeAsync(string connectionString, string schema, string table)
        {
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync(cancellationToken);
            await using var command = new NpgsqlCommand(shape, connection);
            command.Parameters.AddWithValue("schema", schema);
            command.Parameters.AddWithValue("table", table);
            var result = new HashSet<string>(StringComparer.Ordinal);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken)) result.Add(reader.GetString(0));
            return result;
        }

        var ledger = await ShapeAsync(ledgerConnectionString, "ledger", "mt_events");
        var raw = await ShapeAsync(cluster.ConnectionString(Database), "public", "raw_copy");
        // An empty side would make every difference look like the other side's: say plainly that a table was not found.
        if (ledger.Count == 0) return ["ledger.mt_events was not found in the service's database"];
        return [.. ledger.Except(raw).Select(d => "ledger.mt_events has " + d), .. raw.Except(ledger).Select(d => "the raw table has " + d)];
    }

    private async Task<(double Rate, double PostgresMicroseconds)> TimedAsync(string table, int connections, int rowsPerTransaction, CancellationToken cancellationToken)
    {
        var sql = rowsPerTransaction == 1
            ? $"insert into {table} ({Columns}) values (@ids, @stream_ids, @versions, @datas, @types, @timestamps, @dotnet_types, @correlation_ids, @headers, @user_names)"
            : $"insert into {table} ({Columns}) select * from unnest(@ids, @stream_ids, @versions, @datas, @types, @timestamps, @dotnet_types, @correlation_ids, @headers, @user_names)";
        long next = 0;
        long committed = 0;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var workers = Enumerable.Range(0, connections).Select(_ => Task.Run(async () =>
        {
            await using var connection = new NpgsqlConnection(cluster.ConnectionString(Database));
            await connection.OpenAsync(cancellationToken);
            await using var command = new NpgsqlCommand(sql, connection);
            var single = rowsPerTransaction == 1;
            var p = command.Parameters;
            var ids = Parameter<Guid>(p, "ids", NpgsqlDbType.Uuid, single);
            var streamIds = Parameter<string>(p, "stream_ids", NpgsqlDbType.Varchar, single);
            var versions = Parameter<long>(p, "versions", NpgsqlDbType.Bigint, single);
            var datas = Parameter<string>(p, "datas", NpgsqlDbType.Jsonb, single);
            var types = Parameter<string>(p, "types", NpgsqlDbType.Varchar, single);
            var timestamps = Parameter<DateTimeOffset>(p, "timestamps", NpgsqlDbType.TimestampTz, single);
            var dotNetTypes = Parameter<string>(p, "dotnet_types", NpgsqlDbType.Varchar, single);
            var correlationIds = Parameter<string>(p, "correlation_ids", NpgsqlDbType.Varchar, single);
            var headers = Parameter<string>(p, "headers", NpgsqlDbType.Jsonb, single);
            var userNames = Parameter<string>(p, "user_names", NpgsqlDbType.Varchar, single);
            await command.PrepareAsync(cancellationToken);
            while (!stop.IsCancellationRequested)
            {
                var first = Interlocked.Add(ref next, rowsPerTransaction) - rowsPerTransaction;
                var now = DateTimeOffset.UtcNow;
                for (var i = 0; i < rowsPerTransaction; i++)
                {
                    var row = Row(first + i);
                    var eventId = Guid.CreateVersion7();
                    ids.Set(i, eventId);
                    streamIds.Set(i, row.StreamId);
                    versions.Set(i, row.Version);
                    datas.Set(i, row.Data);
                    types.Set(i, row.Type);
                    timestamps.Set(i, now);
                    dotNetTypes.Set(i, row.DotNetType);
                    correlationIds.Set(i, row.CorrelationId);
                    headers.Set(i, row.Headers(eventId));
                    userNames.Set(i, row.Actor);
                }

                await command.ExecuteNonQueryAsync(CancellationToken.None);
                Interlocked.Add(ref committed, rowsPerTransaction);
            }
        }, cancellationToken)).ToArray();

        var rate = await MeasureRateAsync(() => Interlocked.Read(ref committed), cancellationToken);
        await stop.CancelAsync();
        await Task.WhenAll(workers);
        return rate;
    }

    /// <summary>Lets the work warm up, then counts what completes during the measured seconds, and the server's CPU meanwhile.</summary>
    private async Task<(double Rate, double PostgresMicroseconds)> MeasureRateAsync(Func<long> counter, CancellationToken cancellationToken)
    {
        await Task.Delay(TimeSpan.FromSeconds(settings.WarmupSeconds), cancellationToken);
        var (startCount, started, startCpu) = (counter(), Stopwatch.GetTimestamp(), ProcStats.PostgresSeconds(cluster.PostmasterPid));
        await Task.Delay(TimeSpan.FromSeconds(settings.RawSeconds), cancellationToken);
        var (endCount, ended, endCpu) = (counter(), Stopwatch.GetTimestamp(), ProcStats.PostgresSeconds(cluster.PostmasterPid));
        var rows = endCount - startCount;
        return (rows / Stopwatch.GetElapsedTime(started, ended).TotalSeconds, rows > 0 ? (endCpu - startCpu) * 1e6 / rows : double.NaN);
    }

    private async Task<double> CopyAsync(string table, long rows, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(cluster.ConnectionString(Database));
        await connection.OpenAsync(cancellationToken);
        var started = Stopwatch.GetTimestamp();
        await using (var writer = await connection.BeginBinaryImportAsync($"copy {table} ({Columns}) from stdin (format binary)", cancellationToken))
        {
            var now = DateTimeOffset.UtcNow;
            for (long i = 0; i < rows; i++)
            {
                var row = Row(i);
                await writer.StartRowAsync(cancellationToken);
                var eventId = Guid.CreateVersion7();
                await writer.WriteAsync(eventId, NpgsqlDbType.Uuid, cancellationToken);
                await writer.WriteAsync(row.StreamId, NpgsqlDbType.Varchar, cancellationToken);
                await writer.WriteAsync(row.Version, NpgsqlDbType.Bigint, cancellationToken);
                await writer.WriteAsync(row.Data, NpgsqlDbType.Jsonb, cancellationToken);
                await writer.WriteAsync(row.Type, NpgsqlDbType.Varchar, cancellationToken);
                await writer.WriteAsync(now, NpgsqlDbType.TimestampTz, cancellationToken);
                await writer.WriteAsync(row.DotNetType, NpgsqlDbType.Varchar, cancellationToken);
                await writer.WriteAsync(row.CorrelationId, NpgsqlDbType.Varchar, cancellationToken);
                await writer.WriteAsync(row.Headers(eventId), NpgsqlDbType.Jsonb, cancellationToken);
                await writer.WriteAsync(row.Actor, NpgsqlDbType.Varchar, cancellationToken);
            }

            await writer.CompleteAsync(cancellationToken);
        }

        return rows / Stopwatch.GetElapsedTime(started).TotalSeconds;
    }

    /// <summary>Reads every column of every row into the client, as a projection replay reads the feed (the null ones,
    /// bdata and causation_id, are checked for null as a reader must).</summary>
    private async Task<double> ScanAsync(string table, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(cluster.ConnectionString(Database));
        await connection.OpenAsync(cancellationToken);
        var rates = new List<double>();
        for (var run = 0; run < 4; run++)
        {
            var started = Stopwatch.GetTimestamp();
            long rows = 0;
            await using (var command = new NpgsqlCommand(
                $"select seq_id, id, stream_id, version, data::text, bdata, type, timestamp, tenant_id, mt_dotnet_type, correlation_id, causation_id, headers::text, user_name, is_archived from {table}",
                connection))
            await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    _ = reader.GetInt64(0);
                    _ = reader.GetGuid(1);
                    _ = reader.GetString(2);
                    _ = reader.GetInt64(3);
                    _ = reader.GetString(4);
                    _ = reader.IsDBNull(5) ? null : reader.GetFieldValue<byte[]>(5);
                    _ = reader.GetString(6);
                    _ = reader.GetFieldValue<DateTimeOffset>(7);
                    _ = reader.GetString(8);
                    _ = reader.GetString(9);
                    _ = reader.GetString(10);
                    _ = reader.IsDBNull(11) ? null : reader.GetString(11);
                    _ = reader.GetString(12);
                    _ = reader.GetString(13);
                    _ = reader.GetBoolean(14);
                    rows++;
                }
            }

            // The first pass warms the caches; the median of the other three is reported.
            if (run > 0) rates.Add(rows / Stopwatch.GetElapsedTime(started).TotalSeconds);
        }

        return rates.Order().ElementAt(1);
    }

    private RawRow Row(long i)
    {
        var row = _pool[i % _pool.Length];
        var pass = i / _pool.Length;
        return pass == 0 ? row : row with { StreamId = $"{row.StreamId}-R{pass}" };
    }

    /// <summary>
    /// Events of the benchmark's own history (a separate plan), with their stream versions, service-like metadata
    /// (ApiKeyCaller.ToEventMetadata: the key's name and id, a correlation id) and the .NET type name Marten is given
    /// for each stored type (src/Ledger.EventStore/Appending/MartenEvents.cs).
    /// </summary>
    private static RawRow[] BuildPool(int size)
    {
        var history = new MegapackHistory(size * 2, DateTimeOffset.UtcNow, seed: 6391);
        var lanes = history.AssignLanes(8).Select(f => new Lane(history, f)).ToArray();
        var versions = new Dictionary<string, long>(StringComparer.Ordinal);
        var rows = new RawRow[size];
        for (var i = 0; i < size; i++)
        {
            var e = lanes[i % lanes.Length].Next();
            var version = versions[e.Serial] = versions.GetValueOrDefault(e.Serial) + 1;
            var actor = $"{e.Serial[..3].ToLowerInvariant()}-mes";
            var correlationId = Guid.NewGuid().ToString("N");
            var metadata = JsonSerializer.Serialize(new Dictionary<string, string>
            {
                ["actor"] = actor,
                ["actorId"] = Guid.CreateVersion7().ToString(),
                ["correlationId"] = correlationId,
            });
            var clrType = e.Event.GetType();
            rows[i] = new RawRow(e.Serial, version, UnitEvents.Of(e.Event).StoredName, $"{clrType.FullName}, {clrType.Assembly.GetName().Name}",
                UnitEvents.Serialize(e.Event), metadata, actor, correlationId, EventHasher.FormatTimestamp(e.OccurredAt));
        }

        return rows;
    }

    private async Task ExecuteAsync(string sql, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(cluster.ConnectionString(Database));
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>A parameter that is either one value or an array of values, set by index.</summary>
    private static Slot<T> Parameter<T>(NpgsqlParameterCollection parameters, string name, NpgsqlDbType type, bool single)
    {
        if (single)
        {
            var parameter = new NpgsqlParameter<T>(name, type);
            parameters.Add(parameter);
            return new Slot<T>(parameter, null);
        }

        var values = new T[100];
        parameters.Add(new NpgsqlParameter<T[]>(name, NpgsqlDbType.Array | type) { TypedValue = values });
        return new Slot<T>(null, values);
    }

    private sealed record RawRow(
        string StreamId, long Version, string Type, string DotNetType, string Data, string Metadata, string Actor, string CorrelationId,
        string OccurredAt)
    {
        /// <summary>
        /// The headers object the service writes (the contract of migration 0006's view): the chain hash as 64 lowercase
        /// hex digits (here a hash of the event id, same size), the metadata object and the sender's occurred-at.
        /// </summary>
        public string Headers(Guid eventId) =>
            $$"""{"hash":"{{Convert.ToHexStringLower(SHA256.HashData(eventId.ToByteArray()))}}","metadata":{{Metadata}},"occurredAt":"{{OccurredAt}}"}""";
    }

    private sealed class Slot<T>(NpgsqlParameter<T>? single, T[]? array)
    {
        public void Set(int index, T value)
        {
            if (single is not null) single.TypedValue = value;
            else array![index] = value;
        }
    }
}
