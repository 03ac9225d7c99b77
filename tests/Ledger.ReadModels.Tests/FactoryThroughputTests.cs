using Ledger.EventStore;
using Ledger.EventStore.Schema;
using Ledger.Production.Factories;
using Ledger.Production.Units;
using Ledger.ReadModels.Tests.Support;
using Ledger.Testing;

namespace Ledger.ReadModels.Tests;

public sealed class FactoryThroughputTests(ProjectedHistory history) : IClassFixture<ProjectedHistory>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string, CalendarBucket> FactoriesAndBuckets() => new()
    {
        { "lathrop", CalendarBucket.Day }, { "lathrop", CalendarBucket.IsoWeek }, { "lathrop", CalendarBucket.Month },
        { "lathrop", CalendarBucket.Quarter }, { "lathrop", CalendarBucket.Year },
        { "shanghai", CalendarBucket.Day }, { "shanghai", CalendarBucket.IsoWeek }, { "shanghai", CalendarBucket.Month },
        { "shanghai", CalendarBucket.Quarter }, { "shanghai", CalendarBucket.Year },
    };

    /// <summary>
    /// The read model's throughput of one factory per bucket equals the in-memory fold of the history (also used on the
    /// tables Marten's daemon kept, MartenDaemonTests); returns the rows.
    /// </summary>
    internal static async Task<IReadOnlyList<FactoryThroughputRow>> AssertEqualsTheFoldAsync(
        Npgsql.NpgsqlDataSource dataSource, Reference reference, string factoryId, CalendarBucket bucket)
    {
        InMemoryFactoryRegistry.Seeded.TryFind(factoryId, out var factory);
        // Starts mid-week and mid-quarter, so partial buckets at both ends are covered too.
        var from = new DateOnly(2024, 5, 15);
        var to = new DateOnly(2025, 10, 9);

        var rows = await FactoryThroughputQuery.GetAsync(dataSource, factory!, from, to, bucket, Ct);

        Assert.Equal(reference.Throughput(factory!, from, to, bucket), rows);
        Assert.True(rows.Sum(r => r.UnitsBuilt) > 1000, "the history is large enough to mean something");
        return rows;
    }

    [Theory]
    [MemberData(nameof(FactoriesAndBuckets))]
    public async Task Throughput_per_bucket_equals_the_in_memory_fold_of_the_history(string factoryId, CalendarBucket bucket)
    {
        var rows = await AssertEqualsTheFoldAsync(history.DataSource, history.Reference, factoryId, bucket);
        Assert.Contains(rows, r => r.TestsFailed > 0);
        Assert.Contains(rows, r => r.FirstPassYield is > 0 and < 1);
    }

    [Fact]
    public async Task Every_unit_built_is_counted_once() => await AssertEveryUnitCountedOnceAsync(history.DataSource, history.Units);

    /// <summary>Both factories' yearly builds add up to the units of the history (also on Marten's daemon's tables).</summary>
    internal static async Task AssertEveryUnitCountedOnceAsync(Npgsql.NpgsqlDataSource dataSource, int units)
    {
        var lathrop = await FactoryThroughputQuery.GetAsync(
            dataSource, FactorySeed.Lathrop, new DateOnly(2020, 1, 1), new DateOnly(2026, 12, 31), CalendarBucket.Year, Ct);
        var shanghai = await FactoryThroughputQuery.GetAsync(
            dataSource, FactorySeed.Shanghai, new DateOnly(2020, 1, 1), new DateOnly(2026, 12, 31), CalendarBucket.Year, Ct);

        Assert.Equal(units, lathrop.Sum(r => r.UnitsBuilt) + shanghai.Sum(r => r.UnitsBuilt));
        Assert.Equal(units, lathrop[^1].CumulativeUnitsBuilt + shanghai[^1].CumulativeUnitsBuilt);
    }

    [Fact]
    public async Task Run_rate_and_utilization_are_the_trailing_30_local_days_annualized_against_nameplate()
    {
        var day = new DateOnly(2025, 7, 20);
        var rows = await FactoryThroughputQuery.GetAsync(history.DataSource, FactorySeed.Shanghai, day, day, CalendarBucket.Day, Ct);

        var builtInWindow = history.Reference.FactoryDays
            .Where(d => d.Key.Factory == "shanghai" && d.Key.Day > day.AddDays(-30) && d.Key.Day <= day)
            .Sum(d => d.Value.Built);
        var row = Assert.Single(rows);
        Assert.True(builtInWindow > 0);
        Assert.Equal(builtInWindow, row.UnitsBuiltTrailing30Days);
        Assert.Equal(builtInWindow * 365m / 30m, row.RunRateUnitsPerYear);
        Assert.Equal(builtInWindow * 365m / 30m / 10_000m, row.Utilization);
    }
}

/// <summary>Local calendars, on a database of their own with a handful of hand-placed events.</summary>
public sealed class FactoryLocalDayTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Builds_count_on_the_factorys_local_day_not_the_UTC_day()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = EventStoreDataSource.Create(db.ConnectionString);
        await new Migrator(dataSource).MigrateAsync([EventStoreSchema.Migrations, ReadModelsSchema.Migrations], Ct);
        await using (var store = new EventStore.EventStore(dataSource))
        {
            // Shanghai 23:30 on the 10th is 15:30 UTC on the 10th; Shanghai 00:30 on the 11th is still the 10th in UTC;
            // Lathrop 23:30 on the 10th (PDT) is already the 11th in UTC.
            await Build(store, "SHA-LATE", "shanghai", new DateTimeOffset(2025, 6, 10, 23, 30, 0, TimeSpan.FromHours(8)));
            await Build(store, "SHA-EARLY", "shanghai", new DateTimeOffset(2025, 6, 11, 0, 30, 0, TimeSpan.FromHours(8)));
            await Build(store, "LTH-LATE", "lathrop", new DateTimeOffset(2025, 6, 10, 23, 30, 0, TimeSpan.FromHours(-7)));
            await store.WaitForFeedAsync(await store.GetHeadPositionAsync(Ct), Ct);
        }

        await ProjectionDriver.RunAsync(dataSource, ProjectedHistory.Projections(), 10, Ct);

        var (tenth, eleventh) = (new DateOnly(2025, 6, 10), new DateOnly(2025, 6, 11));
        var shanghai = await FactoryThroughputQuery.GetAsync(dataSource, FactorySeed.Shanghai, tenth, eleventh, CalendarBucket.Day, Ct);
        var lathrop = await FactoryThroughputQuery.GetAsync(dataSource, FactorySeed.Lathrop, tenth, eleventh, CalendarBucket.Day, Ct);
        Assert.Equal([(tenth, 1L), (eleventh, 1L)], shanghai.Select(r => (r.BucketStart, r.UnitsBuilt)));
        Assert.Equal([(tenth, 1L), (eleventh, 0L)], lathrop.Select(r => (r.BucketStart, r.UnitsBuilt)));
        var milestones = await MilestonesQuery.GetUnitMilestonesAsync(dataSource, "shanghai", Ct);
        Assert.Equal(("SHA-LATE", tenth), (milestones[0].Serial, milestones[0].LocalDate));

        static Task Build(EventStore.EventStore store, string serial, string factoryId, DateTimeOffset at) =>
            store.AppendToStreamAsync(serial, ExpectedVersion.NoStream,
                [History.ToEventData(new OccurredEvent(new UnitBuilt(factoryId, "MP-L1", "Megapack 2 XL", 3916m), at))], Ct);
    }
}
