using System.Collections.Frozen;
using Ledger.EventStore;
using Ledger.EventStore.Projections;
using Ledger.Production.Factories;
using Ledger.Production.Geography;
using Ledger.Production.Units;
using Npgsql;
using NpgsqlTypes;

namespace Ledger.ReadModels;

/// <summary>
/// Milestones: each factory's 1st unit and every 1,000th unit built, and each factory's first shipment to each market
/// region (<see cref="MarketRegions.Of"/>).
/// <list type="bullet">
/// <item>The nth unit is the nth build of the factory ordered by (<c>occurredAt</c>, feed position), not by the order the
/// ledger recorded them: a build imported late with an earlier <c>occurredAt</c> moves later units up, and the milestone
/// then names the right serial. Scrapped units still count: they were built.</item>
/// <item>A first shipment is the earliest <c>UnitShipped</c> by (<c>occurredAt</c>, position) that has not been
/// cancelled; when the first one is cancelled, the next earliest takes its place.</item>
/// <item>Dates are the factory's local dates (shipments leave from the factory).</item>
/// </list>
/// </summary>
public sealed class MilestonesProjection(IFactoryRegistry factories) : IBulkRebuildProjection
{
    private static readonly string LoadUnits = ReadModelSql.Read("milestones_load_units.sql");
    private static readonly string InsertBuilds = ReadModelSql.Read("milestones_insert_builds.sql");
    private static readonly string RankUnits = ReadModelSql.Read("milestones_rank_units.sql");
    private static readonly string MergeShipments = ReadModelSql.Read("milestones_merge_shipments.sql");
    private static readonly string RankAll = ReadModelSql.Read("milestones_rank_all.sql");

    private readonly FactoryCalendar _calendar = new(factories);

    /// <inheritdoc />
    public string Name => ProjectionName;

    /// <summary>The projection's name, for status, rebuilds and read-your-writes.</summary>
    public const string ProjectionName = "milestones";

    /// <inheritdoc />
    public IReadOnlyList<string> Tables { get; } =
        ["ledger.milestone_builds", "ledger.milestone_units", "ledger.milestone_shipments"];

    /// <summary>Rows a bulk replay holds before writing them; tests make it small to have many writes.</summary>
    internal int BulkChunkRows { get; init; } = BulkCopy.ChunkRows;

    /// <summary>Runs after each write of a bulk replay but the last: tests use it to interrupt a replay half-way.</summary>
    internal Func<CancellationToken, Task>? AfterBulkWrite { get; init; }

    // The only list of the events this read model folds: Marten's daemon, a rebuild's scan and its replay batches hand
    // it these and no others (IProjection.EventTypes).
    private static readonly FrozenSet<string> Folded = UnitFeed.Types(
        UnitEvents.UnitBuilt, UnitEvents.UnitShipped, UnitEvents.ShipmentCancelled);

    /// <inheritdoc />
    public IReadOnlyCollection<string> EventTypes => Folded;

    /// <inheritdoc />
    public async Task ApplyAsync(ProjectionBatch batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var events = UnitFeed.Read(batch.Events);
        if (events.Count == 0) return;

        var fold = new Fold(_calendar);
        await LoadAsync(batch, events.Select(e => e.Recorded.StreamId).Distinct().ToArray(), fold.Units, cancellationToken);
        foreach (var (recorded, @event) in events) fold.Apply(recorded, @event);

        // Every read in C# happens above, before the first write: under Marten's daemon the writes are queued and run
        // after this method returns. The re-rank reads the builds this batch inserts, but in SQL: queued statements run in
        // order in one transaction, so it sees them there, as it does on the own daemon's transaction.
        if (fold.Builds.Count > 0)
        {
            await InsertBuildsAsync(batch, fold.Builds, cancellationToken);
            await RankAsync(batch, fold.Builds, cancellationToken);
        }

        if (fold.Shipments.Count > 0) await MergeShipmentsAsync(batch, fold.Shipments, cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>
    /// The same <see cref="Fold"/> as live batches, one unit at a time; builds and shipments are written (COPY) a chunk at
    /// a time, between units, so a cancellation always finds its shipment in memory. The builds are ranked once, at the
    /// end, with one window over the shadow table (<c>milestones_rank_all.sql</c>) instead of per batch.
    /// </remarks>
    public async Task ReplayAsync(BulkReplay replay, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(replay);
        var fold = new Fold(_calendar);
        await foreach (var stream in replay.ReadStreamsAsync(cancellationToken))
        {
            foreach (var (recorded, @event) in UnitFeed.Read(stream)) fold.Apply(recorded, @event);
            fold.Units.Clear();
            if (fold.Builds.Count + fold.Shipments.Count < BulkChunkRows) continue;
            await replay.WriteAsync((batch, token) => CopyAsync(batch, fold, token), cancellationToken);
            fold.Builds.Clear();
            fold.Shipments.Clear();
            if (AfterBulkWrite is not null) await AfterBulkWrite(cancellationToken);
        }

        await replay.WriteAsync(async (batch, token) =>
        {
            await CopyAsync(batch, fold, token);
            await using var rank = batch.CreateCommand(RankAll);
            await rank.ExecuteNonQueryAsync(token);
        }, cancellationToken);
    }

    /// <summary>
    /// The read model's rules, event by event: what live batches and bulk replays both apply. <see cref="Units"/> holds
    /// the state of the units being folded (loaded beforehand, or empty for a unit whose whole stream follows).
    /// </summary>
    private sealed class Fold(FactoryCalendar calendar)
    {
        public Dictionary<string, UnitRow> Units { get; } = new(StringComparer.Ordinal);

        public List<BuildRow> Builds { get; } = [];

        /// <summary>Keyed by feed position: new shipments with all their columns, stored ones only to mark them cancelled.</summary>
        public Dictionary<long, ShipmentRow> Shipments { get; } = [];

        public void Apply(RecordedEvent recorded, IUnitEvent @event)
        {
            var serial = recorded.StreamId;
            if (@event is UnitBuilt built)
            {
                Units[serial] = new UnitRow(built.FactoryId, CurrentShipment: null);
                Builds.Add(new BuildRow(serial, built.FactoryId, Utc.Normalize(recorded.OccurredAt), recorded.Position,
                    calendar.LocalDate(built.FactoryId, recorded.OccurredAt)));
                return;
            }

            if (!Units.TryGetValue(serial, out var unit)) throw UnitFeed.NotBuilt(recorded);
            switch (@event)
            {
                case UnitShipped shipped:
                    Shipments[recorded.Position] = new ShipmentRow(serial, unit.FactoryId,
                        MarketRegions.Of(shipped.Destination.Country), shipped.Destination.Country,
                        Utc.Normalize(recorded.OccurredAt), calendar.LocalDate(unit.FactoryId, recorded.OccurredAt),
                        Cancelled: false);
                    Units[serial] = unit with { CurrentShipment = recorded.Position };
                    break;
                case ShipmentCancelled when unit.CurrentShipment is { } position:
                    Shipments[position] = Shipments.TryGetValue(position, out var inBatch)
                        ? inBatch with { Cancelled = true }
                        : ShipmentRow.CancelStored;
                    Units[serial] = unit with { CurrentShipment = null };
                    break;
            }
        }
    }

    private static async Task LoadAsync(
        ProjectionBatch batch, string[] serials, Dictionary<string, UnitRow> units, CancellationToken cancellationToken)
    {
        await using var command = batch.CreateCommand(LoadUnits);
        command.Parameters.Add(new NpgsqlParameter<string[]>("serials", serials));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            units[reader.GetString(0)] = new UnitRow(reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetInt64(2));
        }
    }

    private static async Task InsertBuildsAsync(ProjectionBatch batch, List<BuildRow> builds, CancellationToken cancellationToken)
    {
        await using var command = batch.CreateCommand(InsertBuilds);
        command.Parameters.Add(new NpgsqlParameter<string[]>("serials", builds.Select(b => b.Serial).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<string[]>("factory_ids", builds.Select(b => b.FactoryId).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<DateTimeOffset[]>("occurred_ats", builds.Select(b => b.OccurredAt).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<long[]>("positions", builds.Select(b => b.Position).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<DateOnly[]>("local_dates", builds.Select(b => b.LocalDate).ToArray()));
        await batch.ExecuteAsync(command, cancellationToken);
    }

    private static async Task RankAsync(ProjectionBatch batch, List<BuildRow> builds, CancellationToken cancellationToken)
    {
        // Per factory, the earliest of the batch's builds by (occurredAt, position): ranks before it cannot have changed.
        var starts = builds.GroupBy(b => b.FactoryId, StringComparer.Ordinal)
            .Select(g => g.MinBy(b => (b.OccurredAt, b.Position))!)
            .ToArray();
        await using var command = batch.CreateCommand(RankUnits);
        command.Parameters.Add(new NpgsqlParameter<string[]>("factory_ids", starts.Select(b => b.FactoryId).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<DateTimeOffset[]>("from_occurred_ats", starts.Select(b => b.OccurredAt).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<long[]>("from_positions", starts.Select(b => b.Position).ToArray()));
        await batch.ExecuteAsync(command, cancellationToken);
    }

    private static async Task MergeShipmentsAsync(
        ProjectionBatch batch, Dictionary<long, ShipmentRow> shipments, CancellationToken cancellationToken)
    {
        var rows = shipments.ToArray();
        await using var command = batch.CreateCommand(MergeShipments);
        command.Parameters.Add(new NpgsqlParameter<long[]>("positions", rows.Select(r => r.Key).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<string?[]>("serials", rows.Select(r => r.Value.Serial).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<string?[]>("factory_ids", rows.Select(r => r.Value.FactoryId).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<string?[]>("regions", rows.Select(r => r.Value.Region).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<string?[]>("countries", rows.Select(r => r.Value.Country).ToArray()));
        command.Parameters.Add(new NpgsqlParameter("occurred_ats", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz)
        {
            Value = rows.Select(r => r.Value.OccurredAt).ToArray(),
        });
        command.Parameters.Add(new NpgsqlParameter("local_dates", NpgsqlDbType.Array | NpgsqlDbType.Date)
        {
            Value = rows.Select(r => r.Value.LocalDate).ToArray(),
        });
        command.Parameters.Add(new NpgsqlParameter<bool[]>("cancelleds", rows.Select(r => r.Value.Cancelled).ToArray()));
        await batch.ExecuteAsync(command, cancellationToken);
    }

    private static async Task CopyAsync(ProjectionBatch batch, Fold fold, CancellationToken cancellationToken)
    {
        if (fold.Builds.Count > 0)
        {
            await using var copy = await batch.Connection.BeginBinaryImportAsync(
                $"copy {batch.Table("ledger.milestone_builds")} (serial, factory_id, occurred_at, position, local_date) from stdin (format binary)",
                cancellationToken);
            foreach (var build in fold.Builds)
            {
                await copy.StartRowAsync(cancellationToken);
                await copy.WriteAsync(build.Serial, NpgsqlDbType.Text, cancellationToken);
                await copy.WriteAsync(build.FactoryId, NpgsqlDbType.Text, cancellationToken);
                await copy.WriteAsync(build.OccurredAt, NpgsqlDbType.TimestampTz, cancellationToken);
                await copy.WriteAsync(build.Position, NpgsqlDbType.Bigint, cancellationToken);
                await copy.WriteAsync(build.LocalDate, NpgsqlDbType.Date, cancellationToken);
            }

            await copy.CompleteAsync(cancellationToken);
        }

        if (fold.Shipments.Count > 0)
        {
            await using var copy = await batch.Connection.BeginBinaryImportAsync(
                $"copy {batch.Table("ledger.milestone_shipments")} (position, serial, factory_id, region, country, occurred_at, local_date, " +
                "cancelled) from stdin (format binary)",
                cancellationToken);
            foreach (var (position, shipment) in fold.Shipments)
            {
                // Every shipment of a bulk replay was folded with its unit's whole stream, so none is a stored one.
                await copy.StartRowAsync(cancellationToken);
                await copy.WriteAsync(position, NpgsqlDbType.Bigint, cancellationToken);
                await copy.WriteAsync(shipment.Serial!, NpgsqlDbType.Text, cancellationToken);
                await copy.WriteAsync(shipment.FactoryId!, NpgsqlDbType.Text, cancellationToken);
                await copy.WriteAsync(shipment.Region!, NpgsqlDbType.Text, cancellationToken);
                await copy.WriteAsync(shipment.Country!, NpgsqlDbType.Text, cancellationToken);
                await copy.WriteAsync(shipment.OccurredAt!.Value, NpgsqlDbType.TimestampTz, cancellationToken);
                await copy.WriteAsync(shipment.LocalDate!.Value, NpgsqlDbType.Date, cancellationToken);
                await copy.WriteAsync(shipment.Cancelled, NpgsqlDbType.Boolean, cancellationToken);
            }

            await copy.CompleteAsync(cancellationToken);
        }
    }

    private sealed record UnitRow(string FactoryId, long? CurrentShipment);

    private sealed record BuildRow(string Serial, string FactoryId, DateTimeOffset OccurredAt, long Position, DateOnly LocalDate);

    private sealed record ShipmentRow(
        string? Serial, string? FactoryId, string? Region, string? Country, DateTimeOffset? OccurredAt, DateOnly? LocalDate,
        bool Cancelled)
    {
        // A shipment stored by an earlier batch: only its position (the key) and the new flag are written.
        public static ShipmentRow CancelStored { get; } = new(null, null, null, null, null, null, Cancelled: true);
    }
}

/// <summary>The nth unit a factory built.</summary>
/// <param name="FactoryId">The factory.</param>
/// <param name="Nth">1, or a multiple of 1,000.</param>
/// <param name="Serial">The unit.</param>
/// <param name="OccurredAt">When it was built.</param>
/// <param name="LocalDate">The factory's local date of the build.</param>
public sealed record UnitMilestone(string FactoryId, long Nth, string Serial, DateTimeOffset OccurredAt, DateOnly LocalDate);

/// <summary>A factory's first (not cancelled) shipment to a market region.</summary>
/// <param name="FactoryId">The factory that shipped.</param>
/// <param name="Region">The market region of the destination country.</param>
/// <param name="Serial">The unit shipped.</param>
/// <param name="Country">The destination country (ISO 3166-1 alpha-2).</param>
/// <param name="OccurredAt">When it was shipped.</param>
/// <param name="LocalDate">The factory's local date of the shipment.</param>
public sealed record FirstShipmentMilestone(
    string FactoryId, string Region, string Serial, string Country, DateTimeOffset OccurredAt, DateOnly LocalDate);

/// <summary>Answers "when did each factory reach its 1st and every 1,000th unit, and first ship to each region?".</summary>
public static class MilestonesQuery
{
    private static readonly string Units = ReadModelSql.Read("milestones_units.sql");
    private static readonly string FirstShipments = ReadModelSql.Read("milestones_first_shipments.sql");

    /// <summary>Unit milestones, ordered by factory and n; all factories when <paramref name="factoryId"/> is null.</summary>
    public static async Task<IReadOnlyList<UnitMilestone>> GetUnitMilestonesAsync(
        NpgsqlDataSource dataSource, string? factoryId = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        await using var command = dataSource.CreateCommand(Units);
        command.Parameters.Add(new NpgsqlParameter("factory_id", NpgsqlDbType.Text) { Value = (object?)factoryId ?? DBNull.Value });
        var rows = new List<UnitMilestone>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new UnitMilestone(reader.GetString(0), reader.GetInt64(1), reader.GetString(2),
                reader.GetFieldValue<DateTimeOffset>(3), reader.GetFieldValue<DateOnly>(4)));
        }

        return rows;
    }

    /// <summary>First shipments, ordered by factory and region; all factories when <paramref name="factoryId"/> is null.</summary>
    public static async Task<IReadOnlyList<FirstShipmentMilestone>> GetFirstShipmentsAsync(
        NpgsqlDataSource dataSource, string? factoryId = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        await using var command = dataSource.CreateCommand(FirstShipments);
        command.Parameters.Add(new NpgsqlParameter("factory_id", NpgsqlDbType.Text) { Value = (object?)factoryId ?? DBNull.Value });
        var rows = new List<FirstShipmentMilestone>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new FirstShipmentMilestone(reader.GetString(0), reader.GetString(1), reader.GetString(2),
                reader.GetString(3), reader.GetFieldValue<DateTimeOffset>(4), reader.GetFieldValue<DateOnly>(5)));
        }

        return rows;
    }
}
