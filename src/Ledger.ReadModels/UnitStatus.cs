using JasperFx.Events;
using Ledger.EventStore;
using Ledger.EventStore.Schema;
using Ledger.Production.Units;
using Marten;
using Marten.Events.Projections;
using Npgsql;
using NpgsqlTypes;

namespace Ledger.ReadModels;

/// <summary>The latest test of a unit.</summary>
public sealed record LatestTest(string Result, string Station, decimal MeasuredKwh, decimal RoundTripEfficiency, string? FailureCode, DateTimeOffset? TestedAt);

/// <summary>Where a unit was sent.</summary>
public sealed record UnitDestination(string Country, string Region, string Site);

/// <summary>
/// "Where is unit X and what has happened to it?" One row per unit, written inline: in the same transaction as the
/// unit's events, so it is never behind them.
/// </summary>
public sealed record UnitStatus(
    string Serial, string? FactoryId, string? Line, string? Model, decimal? NameplateKwh, string State,
    LatestTest? LatestTest, string? ShipmentId, string? Carrier, UnitDestination? Destination, string? Site,
    DateTimeOffset? BuiltAt, DateTimeOffset? TestedAt, DateTimeOffset? ReworkedAt, DateTimeOffset? ShippedAt,
    DateTimeOffset? DeliveredAt, DateTimeOffset? CommissionedAt, DateTimeOffset? ScrappedAt, DateTimeOffset? LastOccurredAt,
    long Version, long Position)
{
    /// <summary>The state names on the wire and in the table.</summary>
    public static string StateName(UnitStage stage) => stage switch
    {
        UnitStage.NotBuilt => "not-built",
        UnitStage.Built => "built",
        UnitStage.Passed => "passed",
        UnitStage.Failed => "failed",
        UnitStage.Reworked => "reworked",
        UnitStage.InTransit => "in-transit",
        UnitStage.Delivered => "delivered",
        UnitStage.Commissioned => "commissioned",
        UnitStage.Scrapped => "scrapped",
        _ => throw new ArgumentOutOfRangeException(nameof(stage), stage, "Not a unit stage."),
    };

    /// <summary>Every state name, for validating filters.</summary>
    public static IReadOnlyList<string> StateNames { get; } = [.. Enum.GetValues<UnitStage>().Select(StateName)];

    /// <summary>The status of a unit folded from its history (also what time travel answers).</summary>
    public static UnitStatus From(string serial, UnitState state, long position) => new(
        serial, state.FactoryId, state.Line, state.Model, state.NameplateKwh, StateName(state.Stage),
        state.LatestTest is { } t
            ? new LatestTest(t.Passed ? "passed" : "failed", t.Station, t.MeasuredKwh, t.RoundTripEfficiency, t.FailureCode, state.TestedAt)
            : null,
        state.Shipment?.ShipmentId, state.Shipment?.Carrier,
        state.Shipment is { } s ? new UnitDestination(s.Destination.Country, s.Region, s.Destination.Site) : null,
        state.Site, state.BuiltAt, state.TestedAt, state.ReworkedAt, state.Shipment?.ShippedAt, state.DeliveredAt,
        state.CommissionedAt, state.ScrappedAt, state.LastOccurredAt, state.Version, position);
}

/// <summary>
/// Keeps <c>ledger.unit_status</c> in step with the streams: a Marten inline projection, so its upsert runs in the append's
/// own batch and transaction, after Marten's append statement.
/// </summary>
/// <remarks>
/// The row is the fold of the unit's whole stream. A unit whose events in the transaction start at version 1 needs no
/// read; for one whose state at the version before was handed over with <see cref="Remember"/> by the writer that
/// folded it (the HTTP write path reads every stream before deciding), the new events are evolved onto that state; only
/// the others are read back from the store (one round trip for all of them: Marten runs inline projections before its
/// batch, so that read sees the committed history without this session's events). Reading every stream again inside the
/// append's transaction was a third of the executions, and most of the rows, of the heaviest statement of batch
/// ingest (docs/benchmarks.md). Marten hands an inline projection the events before it has drawn their positions, so the
/// row's position is looked up by the last event's id in the same statement that writes the row.
/// </remarks>
public sealed class UnitStatusProjection : IProjection
{
    /// <summary>The projection's name (for status and rebuilds).</summary>
    public const string Name = "unit-status";

    /// <summary>The table it owns.</summary>
    public const string Table = "ledger.unit_status";

    private static readonly string Upsert = Read("unit_status_upsert.sql");

    private readonly Dictionary<(string Serial, long Version), (UnitState State, int Holders)> _remembered = [];

    /// <summary>
    /// Tells the projection the state of <paramref name="serial"/> folded from its committed stream (at
    /// <c>state.Version</c>), while the caller appends to it; dispose the result once the append has finished. The state is
    /// used only for events appended at exactly the next version: the store checked, under the stream's lock, that the
    /// stream was still at that version, and committed events never change, so the fold of the stream is that state
    /// evolved by the new events. Anything else (another version, nothing remembered) is read from the store.
    /// </summary>
    /// <param name="serial">The unit.</param>
    /// <param name="state">The fold of every committed event of the unit, as read outside any transaction.</param>
    /// <returns>A handle that forgets the state.</returns>
    public IDisposable Remember(string serial, UnitState state)
    {
        ArgumentNullException.ThrowIfNull(serial);
        ArgumentNullException.ThrowIfNull(state);
        var key = (serial, state.Version);
        lock (_remembered)
        {
            // Two writers of the same unit at the same version read the same committed events: their states are equal.
            _remembered[key] = (state, _remembered.TryGetValue(key, out var held) ? held.Holders + 1 : 1);
        }

        return new Forget(this, key);
    }

    /// <inheritdoc />
    public async Task ApplyAsync(IDocumentOperations operations, IReadOnlyList<IEvent> events, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(operations);
        ArgumentNullException.ThrowIfNull(events);
        var rows = new List<(UnitStatus Row, Guid LastEventId)>();
        var unknown = new Dictionary<string, List<RecordedEvent>>(StringComparer.Ordinal);
        foreach (var stream in events.GroupBy(e => e.StreamKey!, StringComparer.Ordinal))
        {
            // A stream's events of this session, all of them (the store puts a stream in one batch at most once).
            var appended = stream.OrderBy(e => e.Version).Select(RecordedEvent.FromSession).ToList();
            var first = appended[0];
            var before = first.StreamVersion == 1 ? UnitState.Initial : Recall(stream.Key, first.StreamVersion - 1);
            if (before is null)
            {
                unknown[stream.Key] = appended;
                continue;
            }

            rows.Add((Fold(stream.Key, before, appended), appended[^1].EventId));
        }

        if (unknown.Count > 0)
        {
            var connection = ((IDocumentSession)operations).Connection
                ?? throw new InvalidOperationException("The unit status projection runs inside an append's session, which has a connection.");
            var committed = await EventStore.EventStore.ReadStreamsAsync(connection, null, unknown.Keys, cancellation);
            foreach (var (serial, appended) in unknown)
            {
                rows.Add((Fold(serial, UnitHistory.Fold(committed[serial]), appended), appended[^1].EventId));
            }
        }

        if (rows.Count == 0) return;
        var columns = Columns(rows);
        operations.QueueSqlCommand(PositionalUpsert.Sql, [.. PositionalUpsert.Names.Select(n => columns[n].Values)]);
    }

    private static UnitStatus Fold(string serial, UnitState before, List<RecordedEvent> appended) =>
        UnitStatus.From(serial, appended.Aggregate(before, (s, e) => UnitRules.Evolve(s, UnitHistory.ToOccurred(e))), position: 0);

    /// <summary>
    /// Writes the fold of each unit's whole stream into <paramref name="table"/>. Folding the whole stream (a handful of
    /// events) keeps the row a pure function of history: no read-modify-write of the previous row, and a rebuild is the
    /// same code.
    /// </summary>
    internal static async Task RefoldAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, IReadOnlyList<string> serials, string table, CancellationToken cancellationToken) =>
        await UpsertAsync(connection, transaction, await FoldAsync(connection, transaction, serials, cancellationToken), table, cancellationToken);

    private static async Task<List<(UnitStatus Row, Guid LastEventId)>> FoldAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, IReadOnlyList<string> serials, CancellationToken cancellationToken)
    {
        var histories = await EventStore.EventStore.ReadStreamsAsync(connection, transaction, serials, cancellationToken);
        return [.. histories.Where(h => h.Value.Count > 0).Select(h => (FoldStream(h.Value), h.Value[^1].EventId))];
    }

    /// <summary>The row of a unit from its whole stream (at least one event, in version order).</summary>
    internal static UnitStatus FoldStream(IReadOnlyList<RecordedEvent> stream) =>
        UnitStatus.From(stream[0].StreamId, UnitHistory.Fold(stream), stream[^1].Position);

    /// <summary>
    /// Writes new rows into an empty <paramref name="table"/> (a rebuild's shadow) with binary COPY, in its own implicit
    /// transaction: the same columns as the upsert.
    /// </summary>
    internal static async Task CopyAsync(NpgsqlConnection connection, IReadOnlyList<UnitStatus> rows, string table, CancellationToken cancellationToken)
    {
        if (rows.Count == 0) return;
        await using var copy = await connection.BeginBinaryImportAsync(
            $"copy {table} (serial, factory_id, line, model, nameplate_kwh, state, latest_test_result, latest_test_station, " +
            "latest_measured_kwh, latest_round_trip_efficiency, latest_failure_code, shipment_id, carrier, destination_country, " +
            "destination_region, destination_site, site, built_at, tested_at, reworked_at, shipped_at, delivered_at, " +
            "commissioned_at, scrapped_at, last_occurred_at, version, position) from stdin (format binary)",
            cancellationToken);
        foreach (var r in rows)
        {
            await copy.StartRowAsync(cancellationToken);
            await copy.WriteAsync(r.Serial, NpgsqlDbType.Text, cancellationToken);
            await BulkCopy.WriteNullableAsync(copy, r.FactoryId, cancellationToken);
            await BulkCopy.WriteNullableAsync(copy, r.Line, cancellationToken);
            await BulkCopy.WriteNullableAsync(copy, r.Model, cancellationToken);
            await BulkCopy.WriteNullableAsync(copy, r.NameplateKwh, NpgsqlDbType.Numeric, cancellationToken);
            await copy.WriteAsync(r.State, NpgsqlDbType.Text, cancellationToken);
            await BulkCopy.WriteNullableAsync(copy, r.LatestTest?.Result, cancellationToken);
            await BulkCopy.WriteNullableAsync(copy, r.LatestTest?.Station, cancellationToken);
            await BulkCopy.WriteNullableAsync(copy, r.LatestTest?.MeasuredKwh, NpgsqlDbType.Numeric, cancellationToken);
            await BulkCopy.WriteNullableAsync(copy, r.LatestTest?.RoundTripEfficiency, NpgsqlDbType.Numeric, cancellationToken);
            await BulkCopy.WriteNullableAsync(copy, r.LatestTest?.FailureCode, cancellationToken);
            await BulkCopy.WriteNullableAsync(copy, r.ShipmentId, cancellationToken);
            await BulkCopy.WriteNullableAsync(copy, r.Carrier, cancellationToken);
            await BulkCopy.WriteNullableAsync(copy, r.Destination?.Country, cancellationToken);
            await BulkCopy.WriteNullableAsync(copy, r.Destination?.Region, cancellationToken);
            await BulkCopy.WriteNullableAsync(copy, r.Destination?.Site, cancellationToken);
            await BulkCopy.WriteNullableAsync(copy, r.Site, cancellationToken);
            await BulkCopy.WriteNullableAsync(copy, r.BuiltAt?.ToUniversalTime(), NpgsqlDbType.TimestampTz, cancellationToken);
            await BulkCopy.WriteNullableAsync(copy, r.TestedAt?.ToUniversalTime(), NpgsqlDbType.TimestampTz, cancellationToken);
            await BulkCopy.WriteNullableAsync(copy, r.ReworkedAt?.ToUniversalTime(), NpgsqlDbType.TimestampTz, cancellationToken);
            await BulkCopy.WriteNullableAsync(copy, r.ShippedAt?.ToUniversalTime(), NpgsqlDbType.TimestampTz, cancellationToken);
            await BulkCopy.WriteNullableAsync(copy, r.DeliveredAt?.ToUniversalTime(), NpgsqlDbType.TimestampTz, cancellationToken);
            await BulkCopy.WriteNullableAsync(copy, r.CommissionedAt?.ToUniversalTime(), NpgsqlDbType.TimestampTz, cancellationToken);
            await BulkCopy.WriteNullableAsync(copy, r.ScrappedAt?.ToUniversalTime(), NpgsqlDbType.TimestampTz, cancellationToken);
            await BulkCopy.WriteNullableAsync(copy, r.LastOccurredAt?.ToUniversalTime(), NpgsqlDbType.TimestampTz, cancellationToken);
            await copy.WriteAsync(r.Version, NpgsqlDbType.Bigint, cancellationToken);
            await copy.WriteAsync(r.Position, NpgsqlDbType.Bigint, cancellationToken);
        }

        await copy.CompleteAsync(cancellationToken);
    }

    private static async Task UpsertAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, List<(UnitStatus Row, Guid LastEventId)> rows, string table,
        CancellationToken cancellationToken)
    {
        if (rows.Count == 0) return;
        await using var upsert = new NpgsqlCommand(Upsert.Replace("{ledger.unit_status}", table, StringComparison.Ordinal), connection, transaction);
        foreach (var (name, (values, type)) in Columns(rows)) upsert.Parameters.Add(new NpgsqlParameter(name, type) { Value = values });
        await upsert.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The upsert with Marten's positional placeholders (<c>?</c>) and its parameter names in order.</summary>
    private static readonly (string Sql, string[] Names) PositionalUpsert =
        Ledger.EventStore.Projections.PositionalSql.From(Upsert.Replace("{ledger.unit_status}", Table, StringComparison.Ordinal));

    private UnitState? Recall(string serial, long version)
    {
        lock (_remembered)
        {
            return _remembered.TryGetValue((serial, version), out var held) ? held.State : null;
        }
    }

    private sealed class Forget(UnitStatusProjection projection, (string Serial, long Version) key) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
            lock (projection._remembered)
            {
                var held = projection._remembered[key];
                if (held.Holders == 1) projection._remembered.Remove(key);
                else projection._remembered[key] = held with { Holders = held.Holders - 1 };
            }
        }
    }

    /// <summary>The upsert's array parameters, one element per row.</summary>
    private static Dictionary<string, (object Values, NpgsqlDbType Type)> Columns(IReadOnlyList<(UnitStatus Row, Guid LastEventId)> rows)
    {
        var columns = new Dictionary<string, (object Values, NpgsqlDbType Type)>(StringComparer.Ordinal);
        void Text(string name, Func<UnitStatus, string?> value) => columns[name] = (rows.Select(r => value(r.Row)).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text);
        void Numeric(string name, Func<UnitStatus, decimal?> value) => columns[name] = (rows.Select(r => value(r.Row)).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Numeric);
        void Time(string name, Func<UnitStatus, DateTimeOffset?> value) => columns[name] = (rows.Select(r => value(r.Row)).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.TimestampTz);
        Text("serial", r => r.Serial);
        Text("factory_id", r => r.FactoryId);
        Text("line", r => r.Line);
        Text("model", r => r.Model);
        Numeric("nameplate_kwh", r => r.NameplateKwh);
        Text("state", r => r.State);
        Text("latest_test_result", r => r.LatestTest?.Result);
        Text("latest_test_station", r => r.LatestTest?.Station);
        Numeric("latest_measured_kwh", r => r.LatestTest?.MeasuredKwh);
        Numeric("latest_round_trip_efficiency", r => r.LatestTest?.RoundTripEfficiency);
        Text("latest_failure_code", r => r.LatestTest?.FailureCode);
        Text("shipment_id", r => r.ShipmentId);
        Text("carrier", r => r.Carrier);
        Text("destination_country", r => r.Destination?.Country);
        Text("destination_region", r => r.Destination?.Region);
        Text("destination_site", r => r.Destination?.Site);
        Text("site", r => r.Site);
        Time("built_at", r => r.BuiltAt);
        Time("tested_at", r => r.TestedAt);
        Time("reworked_at", r => r.ReworkedAt);
        Time("shipped_at", r => r.ShippedAt);
        Time("delivered_at", r => r.DeliveredAt);
        Time("commissioned_at", r => r.CommissionedAt);
        Time("scrapped_at", r => r.ScrappedAt);
        Time("last_occurred_at", r => r.LastOccurredAt);
        columns["version"] = (rows.Select(r => r.Row.Version).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Bigint);
        columns["last_event_id"] = (rows.Select(r => r.LastEventId).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Uuid);
        return columns;
    }

    internal static string Read(string file) => SqlResources.Read(typeof(UnitStatusProjection).Assembly, file);
}

/// <summary>Filters of the unit list; every one optional.</summary>
public sealed record UnitStatusFilter(
    string? FactoryId = null, string? State = null, string? Region = null, string? Country = null,
    DateTimeOffset? BuiltFrom = null, DateTimeOffset? BuiltTo = null);

/// <summary>Reads <c>ledger.unit_status</c>.</summary>
public sealed class UnitStatusQuery(NpgsqlDataSource dataSource)
{
    private static readonly string Get = UnitStatusProjection.Read("unit_status_get.sql");
    private static readonly string List = UnitStatusProjection.Read("unit_status_list.sql");
    private static readonly string Factories = UnitStatusProjection.Read("unit_status_factories.sql");

    /// <summary>One unit, or null.</summary>
    public async Task<UnitStatus?> GetAsync(string serial, CancellationToken cancellationToken)
    {
        // Prepared: every GET of a unit runs it.
        var rows = await PreparedRead.ListAsync(dataSource, Get, p => p.Add(new NpgsqlParameter<string>("serial", serial)), ReadRow, cancellationToken);
        return rows.Count == 0 ? null : rows[0];
    }

    /// <summary>The factory of each of <paramref name="serials"/> that has a row, in one round trip.</summary>
    public async Task<IReadOnlyDictionary<string, string?>> FactoriesOfAsync(IReadOnlyCollection<string> serials, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(serials);
        await using var command = dataSource.CreateCommand(Factories);
        command.Parameters.Add(new NpgsqlParameter<string[]>("serials", [.. serials]));
        var factories = new Dictionary<string, string?>(StringComparer.Ordinal);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken)) factories[reader.GetString(0)] = reader.IsDBNull(1) ? null : reader.GetString(1);
        return factories;
    }

    /// <summary>A page of units in serial order after <paramref name="afterSerial"/>.</summary>
    public async Task<IReadOnlyList<UnitStatus>> ListAsync(UnitStatusFilter filter, string? afterSerial, int limit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(filter);
        await using var command = dataSource.CreateCommand(List);
        var p = command.Parameters;
        p.Add(new NpgsqlParameter("after", NpgsqlDbType.Text) { Value = (object?)afterSerial ?? DBNull.Value });
        p.Add(new NpgsqlParameter("factory_id", NpgsqlDbType.Text) { Value = (object?)filter.FactoryId ?? DBNull.Value });
        p.Add(new NpgsqlParameter("state", NpgsqlDbType.Text) { Value = (object?)filter.State ?? DBNull.Value });
        p.Add(new NpgsqlParameter("region", NpgsqlDbType.Text) { Value = (object?)filter.Region ?? DBNull.Value });
        p.Add(new NpgsqlParameter("country", NpgsqlDbType.Text) { Value = (object?)filter.Country ?? DBNull.Value });
        p.Add(new NpgsqlParameter("built_from", NpgsqlDbType.TimestampTz) { Value = (object?)filter.BuiltFrom?.ToUniversalTime() ?? DBNull.Value });
        p.Add(new NpgsqlParameter("built_to", NpgsqlDbType.TimestampTz) { Value = (object?)filter.BuiltTo?.ToUniversalTime() ?? DBNull.Value });
        p.AddWithValue("limit", limit);
        var rows = new List<UnitStatus>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken)) rows.Add(ReadRow(reader));
        return rows;
    }

    /// <summary>A unit_status row as the get and the list select it.</summary>
    private static UnitStatus ReadRow(NpgsqlDataReader r)
    {
        string? S(int i) => r.IsDBNull(i) ? null : r.GetString(i);
        decimal? N(int i) => r.IsDBNull(i) ? null : r.GetDecimal(i);
        DateTimeOffset? T(int i) => r.IsDBNull(i) ? null : r.GetFieldValue<DateTimeOffset>(i);
        return new UnitStatus(
            r.GetString(0), S(1), S(2), S(3), N(4), r.GetString(5),
            S(6) is { } result ? new LatestTest(result, S(7)!, N(8)!.Value, N(9)!.Value, S(10), T(18)) : null,
            S(11), S(12),
            S(13) is { } country ? new UnitDestination(country, S(14)!, S(15)!) : null,
            S(16), T(17), T(18), T(19), T(20), T(21), T(22), T(23), T(24), r.GetInt64(25), r.GetInt64(26));
    }
}
