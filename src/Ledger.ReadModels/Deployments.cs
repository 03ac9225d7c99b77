using System.Collections.Frozen;
using Ledger.EventStore;
using Ledger.EventStore.Projections;
using Ledger.Production.Geography;
using Ledger.Production.Units;
using Npgsql;
using NpgsqlTypes;

namespace Ledger.ReadModels;

/// <summary>
/// Deployments: units and energy shipped, delivered and commissioned by market region, country and site, per UTC day
/// (queried per month, quarter or year), and what is in transit now.
/// <list type="bullet">
/// <item>Days are <b>UTC</b> dates of <c>occurredAt</c>: a destination has no factory calendar and the ledger records no
/// site time zone. (Factory figures use local days; see <see cref="FactoryThroughputProjection"/>.)</item>
/// <item>A destination is the shipment's country and site as written on the <c>UnitShipped</c> (the region follows from the
/// country); delivery and commissioning count at the destination of the shipment they complete.</item>
/// <item>Shipped is net: a <c>ShipmentCancelled</c> takes the unit out of "shipped" on the day and destination it was
/// shipped to, and out of in-transit. A reshipment counts again on its own day.</item>
/// <item>In transit now: shipped, not cancelled, not delivered, not scrapped. A unit scrapped in transit leaves in-transit
/// but stays shipped.</item>
/// <item>Energy is the unit's nameplate energy.</item>
/// </list>
/// </summary>
public sealed class DeploymentsProjection : IBulkRebuildProjection
{
    private static readonly string LoadUnits = ReadModelSql.Read("deployments_load_units.sql");
    private static readonly string SaveUnits = ReadModelSql.Read("deployments_save_units.sql");
    private static readonly string DropEmptyInTransit = ReadModelSql.Read("deployments_drop_empty_in_transit.sql");
    private static readonly string AddDaily = ReadModelSql.Read("deployments_add_daily.sql");
    private static readonly string AddMonthly = ReadModelSql.Read("deployments_add_monthly.sql");
    private static readonly string CountInTransit = ReadModelSql.Read("deployments_count_in_transit.sql");

    /// <inheritdoc />
    public string Name => ProjectionName;

    /// <summary>The projection's name, for status, rebuilds and read-your-writes.</summary>
    public const string ProjectionName = "deployments";

    /// <inheritdoc />
    public IReadOnlyList<string> Tables { get; } =
        ["ledger.deployment_units", "ledger.deployment_daily", "ledger.deployment_in_transit", "ledger.deployment_monthly"];

    /// <summary>Rows a bulk replay holds before writing them; tests make it small to have many writes.</summary>
    internal int BulkChunkRows { get; init; } = BulkCopy.ChunkRows;

    /// <summary>Runs after each write of a bulk replay but the last: tests use it to interrupt a replay half-way.</summary>
    internal Func<CancellationToken, Task>? AfterBulkWrite { get; init; }

    // The only list of the events this read model folds: Marten's daemon, a rebuild's scan and its replay batches hand
    // it these and no others (IProjection.EventTypes).
    private static readonly FrozenSet<string> Folded = UnitFeed.Types(
        UnitEvents.UnitBuilt, UnitEvents.UnitShipped, UnitEvents.ShipmentCancelled, UnitEvents.UnitDelivered,
        UnitEvents.UnitCommissioned, UnitEvents.UnitScrapped);

    /// <inheritdoc />
    public IReadOnlyCollection<string> EventTypes => Folded;

    /// <inheritdoc />
    public async Task ApplyAsync(ProjectionBatch batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var events = UnitFeed.Read(batch.Events);
        if (events.Count == 0) return;

        var fold = new Fold();
        await LoadAsync(batch, events.Select(e => e.Recorded.StreamId).Distinct().ToArray(), fold.Units, cancellationToken);
        foreach (var (recorded, @event) in events) fold.Apply(recorded, @event);

        await SaveUnitsAsync(batch, fold.TakeChanged(), cancellationToken);
        await AddFiguresAsync(batch, AddDaily, "days", fold.Days, cancellationToken);
        await AddFiguresAsync(batch, AddMonthly, "months", Months(fold.Days), cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>
    /// The same <see cref="Fold"/> as live batches, one unit at a time: a unit's row is written (COPY) once its stream
    /// has been folded and then forgotten, so memory holds a chunk of rows and the daily totals (days × destinations).
    /// </remarks>
    public async Task ReplayAsync(BulkReplay replay, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(replay);
        var fold = new Fold();
        await UnitRowsReplay.RunAsync(replay, BulkChunkRows,
            stream =>
            {
                foreach (var (recorded, @event) in UnitFeed.Read(stream)) fold.Apply(recorded, @event);
                var changed = fold.TakeChanged();
                fold.Units.Clear();
                return changed;
            },
            CopyUnitsAsync,
            async (batch, token) =>
            {
                await CopyFiguresAsync(batch, "ledger.deployment_daily", "day", fold.Days, token);
                await CopyFiguresAsync(batch, "ledger.deployment_monthly", "month", Months(fold.Days), token);
                await using var count = batch.CreateCommand(CountInTransit);
                await count.ExecuteNonQueryAsync(token);
            },
            AfterBulkWrite, cancellationToken);
    }

    /// <summary>
    /// The read model's rules, event by event: what live batches and bulk replays both apply. <see cref="Units"/> holds
    /// the state of the units being folded (loaded beforehand, or empty for a unit whose whole stream follows).
    /// </summary>
    private sealed class Fold
    {
        private readonly HashSet<string> _changed = new(StringComparer.Ordinal);

        public Dictionary<string, UnitRow> Units { get; } = new(StringComparer.Ordinal);

        public Dictionary<(DateOnly Day, string Country, string Site), DailyChange> Days { get; } = [];

        /// <summary>The rows of the units changed since the last call.</summary>
        public (string Serial, UnitRow Row)[] TakeChanged()
        {
            var rows = _changed.Select(s => (s, Units[s])).ToArray();
            _changed.Clear();
            return rows;
        }

        public void Apply(RecordedEvent recorded, IUnitEvent @event)
        {
            var serial = recorded.StreamId;
            if (@event is UnitBuilt built)
            {
                Units[serial] = new UnitRow(built.NameplateKwh, Destination: null, ShippedOn: null, InTransit: false);
                _changed.Add(serial);
                return;
            }

            if (!Units.TryGetValue(serial, out var unit)) throw UnitFeed.NotBuilt(recorded);
            var today = Utc.Date(recorded.OccurredAt);
            switch (@event)
            {
                case UnitShipped shipped:
                {
                    var change = On(today, shipped.Destination);
                    change.UnitsShipped++;
                    change.ShippedKwh += unit.NameplateKwh;
                    Units[serial] = unit with { Destination = shipped.Destination, ShippedOn = today, InTransit = true };
                    break;
                }

                case ShipmentCancelled when unit is { Destination: { } to, ShippedOn: { } shippedOn }:
                {
                    var change = On(shippedOn, to);
                    change.UnitsShipped--;
                    change.ShippedKwh -= unit.NameplateKwh;
                    Units[serial] = unit with { Destination = null, ShippedOn = null, InTransit = false };
                    break;
                }

                case UnitDelivered when unit.Destination is { } to:
                {
                    var change = On(today, to);
                    change.UnitsDelivered++;
                    change.DeliveredKwh += unit.NameplateKwh;
                    Units[serial] = unit with { InTransit = false };
                    break;
                }

                case UnitCommissioned when unit.Destination is { } to:
                {
                    var change = On(today, to);
                    change.UnitsCommissioned++;
                    change.CommissionedKwh += unit.NameplateKwh;
                    break;
                }

                case UnitScrapped:
                    Units[serial] = unit with { InTransit = false };
                    break;

                default:
                    return;
            }

            _changed.Add(serial);
        }

        private DailyChange On(DateOnly day, Destination to) =>
            Days.TryGetValue((day, to.Country, to.Site), out var change)
                ? change
                : Days[(day, to.Country, to.Site)] = new DailyChange(MarketRegions.Of(to.Country));
    }

    private static async Task LoadAsync(
        ProjectionBatch batch, string[] serials, Dictionary<string, UnitRow> units, CancellationToken cancellationToken)
    {
        await using var command = batch.CreateCommand(LoadUnits);
        command.Parameters.Add(new NpgsqlParameter<string[]>("serials", serials));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var destination = reader.IsDBNull(3) ? null : new Destination(reader.GetString(3), reader.GetString(4));
            units[reader.GetString(0)] = new UnitRow(reader.GetDecimal(1), destination,
                reader.IsDBNull(5) ? null : reader.GetFieldValue<DateOnly>(5), reader.GetBoolean(6));
        }
    }

    private static async Task SaveUnitsAsync(
        ProjectionBatch batch, (string Serial, UnitRow Row)[] rows, CancellationToken cancellationToken)
    {
        if (rows.Length == 0) return;
        await using var command = batch.CreateCommand(SaveUnits);
        command.Parameters.Add(new NpgsqlParameter<string[]>("serials", rows.Select(r => r.Serial).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<decimal[]>("nameplate_kwhs", rows.Select(r => r.Row.NameplateKwh).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<string?[]>("regions",
            rows.Select(r => r.Row.Destination is { } d ? MarketRegions.Of(d.Country) : null).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<string?[]>("countries", rows.Select(r => r.Row.Destination?.Country).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<string?[]>("sites", rows.Select(r => r.Row.Destination?.Site).ToArray()));
        command.Parameters.Add(new NpgsqlParameter("shipped_ons", NpgsqlDbType.Array | NpgsqlDbType.Date)
        {
            Value = rows.Select(r => r.Row.ShippedOn).ToArray(),
        });
        command.Parameters.Add(new NpgsqlParameter<bool[]>("in_transits", rows.Select(r => r.Row.InTransit).ToArray()));
        await batch.ExecuteAsync(command, cancellationToken);
        // Queued after the save under Marten's daemon, so it sees the counts the save moved (same transaction, in order).
        await using var drop = batch.CreateCommand(DropEmptyInTransit);
        await batch.ExecuteAsync(drop, cancellationToken);
    }

    // Adds the figures per date (a day of deployment_daily, the first of a month of deployment_monthly) and destination;
    // the statement names its date array dateParameter.
    private static async Task AddFiguresAsync(
        ProjectionBatch batch, string sql, string dateParameter, Dictionary<(DateOnly Date, string Country, string Site), DailyChange> figures,
        CancellationToken cancellationToken)
    {
        if (figures.Count == 0) return;
        var rows = figures.ToArray();
        await using var command = batch.CreateCommand(sql);
        command.Parameters.Add(new NpgsqlParameter<DateOnly[]>(dateParameter, rows.Select(r => r.Key.Date).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<string[]>("regions", rows.Select(r => r.Value.Region).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<string[]>("countries", rows.Select(r => r.Key.Country).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<string[]>("sites", rows.Select(r => r.Key.Site).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<int[]>("units_shipped", rows.Select(r => r.Value.UnitsShipped).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<decimal[]>("shipped_kwhs", rows.Select(r => r.Value.ShippedKwh).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<int[]>("units_delivered", rows.Select(r => r.Value.UnitsDelivered).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<decimal[]>("delivered_kwhs", rows.Select(r => r.Value.DeliveredKwh).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<int[]>("units_commissioned", rows.Select(r => r.Value.UnitsCommissioned).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<decimal[]>("commissioned_kwhs", rows.Select(r => r.Value.CommissionedKwh).ToArray()));
        await batch.ExecuteAsync(command, cancellationToken);
    }

    /// <summary>
    /// The daily changes summed per UTC month and destination: what <c>deployment_monthly</c> adds, in live batches and
    /// in a rebuild's bulk replay alike, so the months always equal the sums of their days.
    /// </summary>
    private static Dictionary<(DateOnly Month, string Country, string Site), DailyChange> Months(
        Dictionary<(DateOnly Day, string Country, string Site), DailyChange> days)
    {
        var months = new Dictionary<(DateOnly Month, string Country, string Site), DailyChange>();
        foreach (var ((day, country, site), change) in days)
        {
            var key = (new DateOnly(day.Year, day.Month, 1), country, site);
            if (!months.TryGetValue(key, out var month)) months[key] = month = new DailyChange(change.Region);
            month.UnitsShipped += change.UnitsShipped;
            month.ShippedKwh += change.ShippedKwh;
            month.UnitsDelivered += change.UnitsDelivered;
            month.DeliveredKwh += change.DeliveredKwh;
            month.UnitsCommissioned += change.UnitsCommissioned;
            month.CommissionedKwh += change.CommissionedKwh;
        }

        return months;
    }

    private static async Task CopyUnitsAsync(
        ProjectionBatch batch, List<(string Serial, UnitRow Row)> rows, CancellationToken cancellationToken)
    {
        if (rows.Count == 0) return;
        await using var copy = await batch.Connection.BeginBinaryImportAsync(
            $"copy {batch.Table("ledger.deployment_units")} (serial, nameplate_kwh, region, country, site, shipped_on, in_transit) " +
            "from stdin (format binary)",
            cancellationToken);
        foreach (var (serial, row) in rows)
        {
            await copy.StartRowAsync(cancellationToken);
            await copy.WriteAsync(serial, NpgsqlDbType.Text, cancellationToken);
            await copy.WriteAsync(row.NameplateKwh, NpgsqlDbType.Numeric, cancellationToken);
            await BulkCopy.WriteNullableAsync(copy, row.Destination is { } d ? MarketRegions.Of(d.Country) : null, cancellationToken);
            await BulkCopy.WriteNullableAsync(copy, row.Destination?.Country, cancellationToken);
            await BulkCopy.WriteNullableAsync(copy, row.Destination?.Site, cancellationToken);
            await BulkCopy.WriteNullableAsync(copy, row.ShippedOn, NpgsqlDbType.Date, cancellationToken);
            await copy.WriteAsync(row.InTransit, NpgsqlDbType.Boolean, cancellationToken);
        }

        await copy.CompleteAsync(cancellationToken);
    }

    // One row per date (a day of deployment_daily, the first of a month of deployment_monthly) and destination.
    private static async Task CopyFiguresAsync(
        ProjectionBatch batch, string table, string dateColumn, Dictionary<(DateOnly Date, string Country, string Site), DailyChange> rows,
        CancellationToken cancellationToken)
    {
        if (rows.Count == 0) return;
        await using var copy = await batch.Connection.BeginBinaryImportAsync(
            $"copy {batch.Table(table)} ({dateColumn}, region, country, site, units_shipped, shipped_kwh, units_delivered, " +
            "delivered_kwh, units_commissioned, commissioned_kwh) from stdin (format binary)",
            cancellationToken);
        foreach (var ((date, country, site), change) in rows)
        {
            await copy.StartRowAsync(cancellationToken);
            await copy.WriteAsync(date, NpgsqlDbType.Date, cancellationToken);
            await copy.WriteAsync(change.Region, NpgsqlDbType.Text, cancellationToken);
            await copy.WriteAsync(country, NpgsqlDbType.Text, cancellationToken);
            await copy.WriteAsync(site, NpgsqlDbType.Text, cancellationToken);
            await copy.WriteAsync(change.UnitsShipped, NpgsqlDbType.Integer, cancellationToken);
            await copy.WriteAsync(change.ShippedKwh, NpgsqlDbType.Numeric, cancellationToken);
            await copy.WriteAsync(change.UnitsDelivered, NpgsqlDbType.Integer, cancellationToken);
            await copy.WriteAsync(change.DeliveredKwh, NpgsqlDbType.Numeric, cancellationToken);
            await copy.WriteAsync(change.UnitsCommissioned, NpgsqlDbType.Integer, cancellationToken);
            await copy.WriteAsync(change.CommissionedKwh, NpgsqlDbType.Numeric, cancellationToken);
        }

        await copy.CompleteAsync(cancellationToken);
    }

    private sealed record UnitRow(decimal NameplateKwh, Destination? Destination, DateOnly? ShippedOn, bool InTransit);

    private sealed class DailyChange(string region)
    {
        public string Region { get; } = region;
        public int UnitsShipped { get; set; }
        public decimal ShippedKwh { get; set; }
        public int UnitsDelivered { get; set; }
        public decimal DeliveredKwh { get; set; }
        public int UnitsCommissioned { get; set; }
        public decimal CommissionedKwh { get; set; }
    }
}

/// <summary>How deployment figures are grouped; each level includes the ones before it.</summary>
public enum DeploymentGrouping
{
    /// <summary>By market region.</summary>
    Region = 0,

    /// <summary>By region and country.</summary>
    Country = 1,

    /// <summary>By region, country and site.</summary>
    Site = 2,
}

/// <summary>Deployments to one group over one bucket (or the part of it inside the queried range).</summary>
/// <param name="BucketStart">First UTC day of the calendar bucket; may precede the queried range.</param>
/// <param name="Region">Market region.</param>
/// <param name="Country">Country, when grouped by country or site.</param>
/// <param name="Site">Site, when grouped by site.</param>
/// <param name="UnitsShipped">Units shipped, net of shipments since cancelled.</param>
/// <param name="ShippedMwh">Their nameplate energy.</param>
/// <param name="UnitsDelivered">Units delivered.</param>
/// <param name="DeliveredMwh">Their nameplate energy.</param>
/// <param name="UnitsCommissioned">Units commissioned.</param>
/// <param name="CommissionedMwh">Their nameplate energy.</param>
public sealed record DeploymentRow(
    DateOnly BucketStart, string Region, string? Country, string? Site,
    long UnitsShipped, decimal ShippedMwh, long UnitsDelivered, decimal DeliveredMwh, long UnitsCommissioned,
    decimal CommissionedMwh);

/// <summary>Units in transit now to one group.</summary>
/// <param name="Region">Market region.</param>
/// <param name="Country">Country, when grouped by country or site.</param>
/// <param name="Site">Site, when grouped by site.</param>
/// <param name="Units">Units shipped and not yet delivered, cancelled or scrapped.</param>
/// <param name="Mwh">Their nameplate energy.</param>
public sealed record InTransitRow(string Region, string? Country, string? Site, long Units, decimal Mwh);

/// <summary>Answers "how many units and MWh went where, per month, quarter or year, and what is on its way now?".</summary>
public static class DeploymentsQuery
{
    private static readonly string ByBucket = ReadModelSql.Read("deployments_by_bucket.sql");
    private static readonly string InTransit = ReadModelSql.Read("deployments_in_transit.sql");

    /// <summary>
    /// Non-zero groups per bucket over the UTC dates <paramref name="from"/>..<paramref name="to"/> (inclusive), ordered by
    /// bucket, region, country, site; only <paramref name="region"/> when given.
    /// </summary>
    public static async Task<IReadOnlyList<DeploymentRow>> GetAsync(
        NpgsqlDataSource dataSource, DeploymentGrouping groupBy, CalendarBucket bucket, DateOnly from, DateOnly to,
        string? region = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        var (sql, bind, read) = ByBucketRead(groupBy, bucket, from, to, region);
        return await PreparedRead.ListAsync(dataSource, sql, bind, read, cancellationToken);
    }

    /// <summary>What is in transit now, per group, ordered by region, country, site; only <paramref name="region"/> when given.</summary>
    public static async Task<IReadOnlyList<InTransitRow>> GetInTransitAsync(
        NpgsqlDataSource dataSource, DeploymentGrouping groupBy, string? region = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        var (sql, bind, read) = InTransitRead(groupBy, region);
        return await PreparedRead.ListAsync(dataSource, sql, bind, read, cancellationToken);
    }

    /// <summary>
    /// Adds <see cref="GetAsync"/>'s and then <see cref="GetInTransitAsync"/>'s reads to <paramref name="batch"/>, for a
    /// request that makes them and its other reads in one round trip (the endpoint reads the read model's status with them:
    /// issue 15, P5).
    /// </summary>
    public static (PreparedBatch.Read<DeploymentRow> Buckets, PreparedBatch.Read<InTransitRow> InTransit) AddTo(
        PreparedBatch batch, DeploymentGrouping groupBy, CalendarBucket bucket, DateOnly from, DateOnly to, string? region = null)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var (sql, bind, read) = ByBucketRead(groupBy, bucket, from, to, region);
        var buckets = batch.Add(sql, bind, read);
        var (inTransitSql, inTransitBind, inTransitRead) = InTransitRead(groupBy, region);
        return (buckets, batch.Add(inTransitSql, inTransitBind, inTransitRead));
    }

    private static (string Sql, Action<NpgsqlParameterCollection> Bind, Func<NpgsqlDataReader, DeploymentRow> Row) ByBucketRead(
        DeploymentGrouping groupBy, CalendarBucket bucket, DateOnly from, DateOnly to, string? region)
    {
        if (to < from) throw new ArgumentException($"The range ends ({to}) before it starts ({from}).", nameof(to));
        return (ByBucket,
            parameters =>
            {
                parameters.Add(new NpgsqlParameter<string>("bucket", bucket.ToDateTruncField()));
                parameters.Add(new NpgsqlParameter<int>("level", (int)groupBy));
                parameters.Add(new NpgsqlParameter<DateOnly>("from", from));
                parameters.Add(new NpgsqlParameter<DateOnly>("to", to));
                parameters.Add(new NpgsqlParameter("region", NpgsqlDbType.Text) { Value = (object?)region ?? DBNull.Value });
            },
            reader => new DeploymentRow(
                reader.GetFieldValue<DateOnly>(0), reader.GetString(1),
                reader.IsDBNull(2) ? null : reader.GetString(2), reader.IsDBNull(3) ? null : reader.GetString(3),
                reader.GetInt64(4), reader.GetDecimal(5) / 1000m, reader.GetInt64(6), reader.GetDecimal(7) / 1000m,
                reader.GetInt64(8), reader.GetDecimal(9) / 1000m));
    }

    private static (string Sql, Action<NpgsqlParameterCollection> Bind, Func<NpgsqlDataReader, InTransitRow> Row) InTransitRead(
        DeploymentGrouping groupBy, string? region) =>
        (InTransit,
            parameters =>
            {
                parameters.Add(new NpgsqlParameter<int>("level", (int)groupBy));
                parameters.Add(new NpgsqlParameter("region", NpgsqlDbType.Text) { Value = (object?)region ?? DBNull.Value });
            },
            reader => new InTransitRow(reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1),
                reader.IsDBNull(2) ? null : reader.GetString(2), reader.GetInt64(3), reader.GetDecimal(4) / 1000m));
}
