using System.Collections.Frozen;
using Ledger.EventStore;
using Ledger.EventStore.Projections;
using Ledger.Production.Factories;
using Ledger.Production.Units;
using Npgsql;
using NpgsqlTypes;

namespace Ledger.ReadModels;

/// <summary>
/// Factory throughput per factory and <b>local</b> day (the factory's own calendar from <see cref="IFactoryRegistry"/>:
/// a Shanghai build at 23:30 local on the 10th counts on the 10th although it is the 10th at 15:30 UTC, and a Lathrop
/// build at 20:00 local on the 10th counts on the 10th although it is the 11th in UTC).
/// <list type="bullet">
/// <item>Built: one per <c>UnitBuilt</c>, on its day; built MWh is the unit's nameplate energy.</item>
/// <item>Tests passed / failed: every <c>UnitTested</c>, retests included, on the test's day.</item>
/// <item>First-pass yield: of the units whose <em>first</em> test fell in the period, the share that passed it.</item>
/// <item>Shipped: net. A <c>UnitShipped</c> counts on its day; a <c>ShipmentCancelled</c> takes it out again on the day it
/// was shipped (not the day of cancelling), so a reshipment counts once, on its own day.</item>
/// <item>Scrapping, rework, delivery and commissioning do not change throughput: a scrapped unit was still built.</item>
/// </list>
/// </summary>
public sealed class FactoryThroughputProjection(IFactoryRegistry factories) : IBulkRebuildProjection
{
    private static readonly string LoadUnits = ReadModelSql.Read("factory_throughput_load_units.sql");
    private static readonly string SaveUnits = ReadModelSql.Read("factory_throughput_save_units.sql");
    private static readonly string AddDaily = ReadModelSql.Read("factory_throughput_add_daily.sql");

    private readonly FactoryCalendar _calendar = new(factories);

    /// <inheritdoc />
    public string Name => ProjectionName;

    /// <summary>The projection's name, for status, rebuilds and read-your-writes.</summary>
    public const string ProjectionName = "factory-throughput";

    /// <inheritdoc />
    public IReadOnlyList<string> Tables { get; } = ["ledger.factory_throughput_units", "ledger.factory_throughput_daily"];

    /// <summary>Rows a bulk replay holds before writing them; tests make it small to have many writes.</summary>
    internal int BulkChunkRows { get; init; } = BulkCopy.ChunkRows;

    /// <summary>Runs after each write of a bulk replay but the last: tests use it to interrupt a replay half-way.</summary>
    internal Func<CancellationToken, Task>? AfterBulkWrite { get; init; }

    // The only list of the events this read model folds: Marten's daemon, a rebuild's scan and its replay batches hand
    // it these and no others (IProjection.EventTypes).
    private static readonly FrozenSet<string> Folded = UnitFeed.Types(
        UnitEvents.UnitBuilt, UnitEvents.UnitTested, UnitEvents.UnitShipped, UnitEvents.ShipmentCancelled);

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

        await SaveUnitsAsync(batch, fold.TakeChanged(), cancellationToken);
        await AddDailyAsync(batch, fold.Days, cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>
    /// The same <see cref="Fold"/> as live batches, one unit at a time: a unit's row is written (COPY) once its stream
    /// has been folded and then forgotten, so memory holds a chunk of rows and the daily totals (factories × days).
    /// </remarks>
    public async Task ReplayAsync(BulkReplay replay, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(replay);
        var fold = new Fold(_calendar);
        await UnitRowsReplay.RunAsync(replay, BulkChunkRows,
            stream =>
            {
                foreach (var (recorded, @event) in UnitFeed.Read(stream)) fold.Apply(recorded, @event);
                var changed = fold.TakeChanged();
                fold.Units.Clear();
                return changed;
            },
            CopyUnitsAsync,
            (batch, token) => CopyDailyAsync(batch, fold.Days, token),
            AfterBulkWrite, cancellationToken);
    }

    /// <summary>
    /// The read model's rules, event by event: what live batches and bulk replays both apply. <see cref="Units"/> holds
    /// the state of the units being folded (loaded beforehand, or empty for a unit whose whole stream follows).
    /// </summary>
    private sealed class Fold(FactoryCalendar calendar)
    {
        private readonly HashSet<string> _changed = new(StringComparer.Ordinal);

        public Dictionary<string, UnitRow> Units { get; } = new(StringComparer.Ordinal);

        public Dictionary<(string FactoryId, DateOnly Day), DailyChange> Days { get; } = [];

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
                Units[serial] = new UnitRow(built.FactoryId, built.NameplateKwh, FirstTested: false, ShippedOn: null);
                var day = On(built.FactoryId, calendar.LocalDate(built.FactoryId, recorded.OccurredAt));
                day.UnitsBuilt++;
                day.BuiltKwh += built.NameplateKwh;
                _changed.Add(serial);
                return;
            }

            if (!Units.TryGetValue(serial, out var unit)) throw UnitFeed.NotBuilt(recorded);
            switch (@event)
            {
                case UnitTested tested:
                {
                    var day = On(unit.FactoryId, calendar.LocalDate(unit.FactoryId, recorded.OccurredAt));
                    if (tested.Passed) day.TestsPassed++;
                    else day.TestsFailed++;
                    if (!unit.FirstTested)
                    {
                        day.FirstTests++;
                        if (tested.Passed) day.FirstTestsPassed++;
                        Units[serial] = unit with { FirstTested = true };
                        _changed.Add(serial);
                    }

                    break;
                }

                case UnitShipped:
                {
                    var shippedOn = calendar.LocalDate(unit.FactoryId, recorded.OccurredAt);
                    var day = On(unit.FactoryId, shippedOn);
                    day.UnitsShipped++;
                    day.ShippedKwh += unit.NameplateKwh;
                    Units[serial] = unit with { ShippedOn = shippedOn };
                    _changed.Add(serial);
                    break;
                }

                // The rules only accept a cancellation of the current shipment; the guard keeps a repeated or stray one
                // from subtracting twice.
                case ShipmentCancelled when unit.ShippedOn is { } shippedOn:
                {
                    var day = On(unit.FactoryId, shippedOn);
                    day.UnitsShipped--;
                    day.ShippedKwh -= unit.NameplateKwh;
                    Units[serial] = unit with { ShippedOn = null };
                    _changed.Add(serial);
                    break;
                }
            }
        }

        private DailyChange On(string factoryId, DateOnly day) =>
            Days.TryGetValue((factoryId, day), out var change) ? change : Days[(factoryId, day)] = new DailyChange();
    }

    private static async Task LoadAsync(
        ProjectionBatch batch, string[] serials, Dictionary<string, UnitRow> units, CancellationToken cancellationToken)
    {
        await using var command = batch.CreateCommand(LoadUnits);
        command.Parameters.Add(new NpgsqlParameter<string[]>("serials", serials));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            units[reader.GetString(0)] = new UnitRow(
                reader.GetString(1), reader.GetDecimal(2), reader.GetBoolean(3),
                reader.IsDBNull(4) ? null : reader.GetFieldValue<DateOnly>(4));
        }
    }

    private static async Task SaveUnitsAsync(
        ProjectionBatch batch, (string Serial, UnitRow Row)[] rows, CancellationToken cancellationToken)
    {
        if (rows.Length == 0) return;
        await using var command = batch.CreateCommand(SaveUnits);
        command.Parameters.Add(new NpgsqlParameter<string[]>("serials", rows.Select(r => r.Serial).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<string[]>("factory_ids", rows.Select(r => r.Row.FactoryId).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<decimal[]>("nameplate_kwhs", rows.Select(r => r.Row.NameplateKwh).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<bool[]>("first_testeds", rows.Select(r => r.Row.FirstTested).ToArray()));
        command.Parameters.Add(new NpgsqlParameter("shipped_ons", NpgsqlDbType.Array | NpgsqlDbType.Date)
        {
            Value = rows.Select(r => r.Row.ShippedOn).ToArray(),
        });
        await batch.ExecuteAsync(command, cancellationToken);
    }

    private static async Task AddDailyAsync(
        ProjectionBatch batch, Dictionary<(string FactoryId, DateOnly Day), DailyChange> days,
        CancellationToken cancellationToken)
    {
        if (days.Count == 0) return;
        var rows = days.ToArray();
        await using var command = batch.CreateCommand(AddDaily);
        command.Parameters.Add(new NpgsqlParameter<string[]>("factory_ids", rows.Select(r => r.Key.FactoryId).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<DateOnly[]>("days", rows.Select(r => r.Key.Day).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<int[]>("units_built", rows.Select(r => r.Value.UnitsBuilt).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<decimal[]>("built_kwhs", rows.Select(r => r.Value.BuiltKwh).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<int[]>("tests_passed", rows.Select(r => r.Value.TestsPassed).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<int[]>("tests_failed", rows.Select(r => r.Value.TestsFailed).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<int[]>("first_tests", rows.Select(r => r.Value.FirstTests).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<int[]>("first_tests_passed", rows.Select(r => r.Value.FirstTestsPassed).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<int[]>("units_shipped", rows.Select(r => r.Value.UnitsShipped).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<decimal[]>("shipped_kwhs", rows.Select(r => r.Value.ShippedKwh).ToArray()));
        await batch.ExecuteAsync(command, cancellationToken);
    }

    private static async Task CopyUnitsAsync(
        ProjectionBatch batch, List<(string Serial, UnitRow Row)> rows, CancellationToken cancellationToken)
    {
        if (rows.Count == 0) return;
        await using var copy = await batch.Connection.BeginBinaryImportAsync(
            $"copy {batch.Table("ledger.factory_throughput_units")} (serial, factory_id, nameplate_kwh, first_tested, shipped_on) from stdin (format binary)",
            cancellationToken);
        foreach (var (serial, row) in rows)
        {
            await copy.StartRowAsync(cancellationToken);
            await copy.WriteAsync(serial, NpgsqlDbType.Text, cancellationToken);
            await copy.WriteAsync(row.FactoryId, NpgsqlDbType.Text, cancellationToken);
            await copy.WriteAsync(row.NameplateKwh, NpgsqlDbType.Numeric, cancellationToken);
            await copy.WriteAsync(row.FirstTested, NpgsqlDbType.Boolean, cancellationToken);
            await BulkCopy.WriteNullableAsync(copy, row.ShippedOn, NpgsqlDbType.Date, cancellationToken);
        }

        await copy.CompleteAsync(cancellationToken);
    }

    private static async Task CopyDailyAsync(
        ProjectionBatch batch, Dictionary<(string FactoryId, DateOnly Day), DailyChange> days, CancellationToken cancellationToken)
    {
        if (days.Count == 0) return;
        await using var copy = await batch.Connection.BeginBinaryImportAsync(
            $"copy {batch.Table("ledger.factory_throughput_daily")} (factory_id, day, units_built, built_kwh, tests_passed, tests_failed, " +
            "first_tests, first_tests_passed, units_shipped, shipped_kwh) from stdin (format binary)",
            cancellationToken);
        foreach (var ((factoryId, day), change) in days)
        {
            await copy.StartRowAsync(cancellationToken);
            await copy.WriteAsync(factoryId, NpgsqlDbType.Text, cancellationToken);
            await copy.WriteAsync(day, NpgsqlDbType.Date, cancellationToken);
            await copy.WriteAsync(change.UnitsBuilt, NpgsqlDbType.Integer, cancellationToken);
            await copy.WriteAsync(change.BuiltKwh, NpgsqlDbType.Numeric, cancellationToken);
            await copy.WriteAsync(change.TestsPassed, NpgsqlDbType.Integer, cancellationToken);
            await copy.WriteAsync(change.TestsFailed, NpgsqlDbType.Integer, cancellationToken);
            await copy.WriteAsync(change.FirstTests, NpgsqlDbType.Integer, cancellationToken);
            await copy.WriteAsync(change.FirstTestsPassed, NpgsqlDbType.Integer, cancellationToken);
            await copy.WriteAsync(change.UnitsShipped, NpgsqlDbType.Integer, cancellationToken);
            await copy.WriteAsync(change.ShippedKwh, NpgsqlDbType.Numeric, cancellationToken);
        }

        await copy.CompleteAsync(cancellationToken);
    }

    private sealed record UnitRow(string FactoryId, decimal NameplateKwh, bool FirstTested, DateOnly? ShippedOn);

    private sealed class DailyChange
    {
        public int UnitsBuilt { get; set; }
        public decimal BuiltKwh { get; set; }
        public int TestsPassed { get; set; }
        public int TestsFailed { get; set; }
        public int FirstTests { get; set; }
        public int FirstTestsPassed { get; set; }
        public int UnitsShipped { get; set; }
        public decimal ShippedKwh { get; set; }
    }
}

/// <summary>A factory's throughput over one bucket (or the part of it inside the queried range).</summary>
/// <param name="BucketStart">First day of the calendar bucket (a Monday for ISO weeks); may precede the queried range.</param>
/// <param name="LastDay">Last local day of the bucket inside the range: the day cumulative and run-rate figures are as of.</param>
/// <param name="UnitsBuilt">Units built in the bucket's days.</param>
/// <param name="TestsPassed">Tests passed, retests included.</param>
/// <param name="TestsFailed">Tests failed, retests included.</param>
/// <param name="FirstTests">Units whose first test fell in the bucket.</param>
/// <param name="FirstTestsPassed">Of those, the units that passed their first test.</param>
/// <param name="FirstPassYield"><paramref name="FirstTestsPassed"/> / <paramref name="FirstTests"/>; null without first tests.</param>
/// <param name="UnitsShipped">Units shipped, net of shipments since cancelled.</param>
/// <param name="BuiltMwh">Nameplate energy built.</param>
/// <param name="ShippedMwh">Nameplate energy shipped, net of cancellations.</param>
/// <param name="CumulativeUnitsBuilt">Units built from the factory's first build up to and including <paramref name="LastDay"/>.</param>
/// <param name="UnitsBuiltTrailing30Days">Units built in the 30 local days ending with <paramref name="LastDay"/>.</param>
/// <param name="RunRateUnitsPerYear"><paramref name="UnitsBuiltTrailing30Days"/> × 365 / 30.</param>
/// <param name="Utilization">Run rate / nameplate units per year; null when the factory has no published nameplate.</param>
public sealed record FactoryThroughputRow(
    DateOnly BucketStart,
    DateOnly LastDay,
    long UnitsBuilt,
    long TestsPassed,
    long TestsFailed,
    long FirstTests,
    long FirstTestsPassed,
    decimal? FirstPassYield,
    long UnitsShipped,
    decimal BuiltMwh,
    decimal ShippedMwh,
    long CumulativeUnitsBuilt,
    long UnitsBuiltTrailing30Days,
    decimal RunRateUnitsPerYear,
    decimal? Utilization);

/// <summary>Answers "how much did this factory build, pass and ship per day, week, month, quarter or year?".</summary>
public static class FactoryThroughputQuery
{
    private static readonly string ByBucket = ReadModelSql.Read("factory_throughput_by_bucket.sql");
    private static readonly string ByDay = ReadModelSql.Read("factory_throughput_by_day.sql");

    /// <summary>
    /// One row per bucket overlapping the local dates <paramref name="from"/>..<paramref name="to"/> (inclusive), empty
    /// buckets included. Partial buckets at either end count only their days inside the range.
    /// </summary>
    public static async Task<IReadOnlyList<FactoryThroughputRow>> GetAsync(
        NpgsqlDataSource dataSource, Factory factory, DateOnly from, DateOnly to, CalendarBucket bucket,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        var (sql, bind, read) = Read(factory, from, to, bucket);
        return await PreparedRead.ListAsync(dataSource, sql, bind, read, cancellationToken);
    }

    /// <summary>
    /// Adds <see cref="GetAsync"/>'s read to <paramref name="batch"/>, for a request that makes its other reads in the same
    /// round trip (the endpoint reads the read model's status with it: issue 15, P5).
    /// </summary>
    public static PreparedBatch.Read<FactoryThroughputRow> AddTo(
        PreparedBatch batch, Factory factory, DateOnly from, DateOnly to, CalendarBucket bucket)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var (sql, bind, read) = Read(factory, from, to, bucket);
        return batch.Add(sql, bind, read);
    }

    private static (string Sql, Action<NpgsqlParameterCollection> Bind, Func<NpgsqlDataReader, FactoryThroughputRow> Row) Read(
        Factory factory, DateOnly from, DateOnly to, CalendarBucket bucket)
    {
        ArgumentNullException.ThrowIfNull(factory);
        if (to < from) throw new ArgumentException($"The range ends ({to}) before it starts ({from}).", nameof(to));

        var daily = bucket == CalendarBucket.Day;
        return (daily ? ByDay : ByBucket,
            parameters =>
            {
                parameters.Add(new NpgsqlParameter<string>("factory_id", factory.Id));
                parameters.Add(new NpgsqlParameter<DateOnly>("from", from));
                parameters.Add(new NpgsqlParameter<DateOnly>("to", to));
                if (!daily) parameters.Add(new NpgsqlParameter<string>("bucket", bucket.ToDateTruncField()));
            },
            reader =>
            {
                var firstTests = reader.GetInt64(7);
                var firstTestsPassed = reader.GetInt64(8);
                var trailing = reader.GetInt64(12);
                var runRate = RunRate(trailing);
                return new FactoryThroughputRow(
                    BucketStart: reader.GetFieldValue<DateOnly>(0),
                    LastDay: reader.GetFieldValue<DateOnly>(2),
                    UnitsBuilt: reader.GetInt64(3),
                    TestsPassed: reader.GetInt64(5),
                    TestsFailed: reader.GetInt64(6),
                    FirstTests: firstTests,
                    FirstTestsPassed: firstTestsPassed,
                    FirstPassYield: firstTests == 0 ? null : (decimal)firstTestsPassed / firstTests,
                    UnitsShipped: reader.GetInt64(9),
                    BuiltMwh: reader.GetDecimal(4) / 1000m,
                    ShippedMwh: reader.GetDecimal(10) / 1000m,
                    CumulativeUnitsBuilt: reader.GetInt64(11),
                    UnitsBuiltTrailing30Days: trailing,
                    RunRateUnitsPerYear: runRate,
                    Utilization: factory.NameplateUnitsPerYear is > 0 and var nameplate ? runRate / nameplate : null);
            });
    }

    /// <summary>The trailing 30-day build count annualized: × 365 / 30.</summary>
    public static decimal RunRate(long unitsBuiltTrailing30Days) => unitsBuiltTrailing30Days * 365m / 30m;
}
