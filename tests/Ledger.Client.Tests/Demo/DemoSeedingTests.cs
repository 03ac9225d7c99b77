using Ledger.Api.Access;
using Ledger.Api.Tests.Support;
using Ledger.Client.Tests.Support;
using Ledger.Demo;
using Ledger.Production.Geography;
using Ledger.Testing;

namespace Ledger.Client.Tests.Demo;

/// <summary>
/// Seeding through the typed client: Shanghai's first seven months, posted by its four line systems with line keys of
/// their own, read back from the ledger's read models.
/// </summary>
public sealed class DemoSeedingTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static readonly DateTimeOffset EndOfAugust2025 = new(2025, 8, 31, 23, 0, 0, TimeSpan.FromHours(8));
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Shanghais_seeded_first_months_show_its_ramp_and_milestones_in_the_read_models()
    {
        await using var api = new LedgerApiFactory(database.ConnectionString);
        var history = DemoHistory.Generate(new DemoHistoryOptions { Until = EndOfAugust2025, Factories = ["shanghai"] });
        var keys = new Dictionary<string, string>();
        foreach (var actor in history.Actors) keys[actor.Name] = await api.CreateKeyAsync(LedgerRole.Line, actor.FactoryId, actor.Name);
        var progress = new List<DemoSeedProgress>();
        var seeder = new DemoSeeder(actor => new LedgerClient(api.CreateClient(), new LedgerClientOptions { ApiKey = keys[actor.Name] }))
        {
            WindowEvents = 1_500,
            BatchEvents = 400,
        };

        var result = await seeder.SeedAsync(history, new SynchronousProgress<DemoSeedProgress>(progress.Add), Ct);

        Assert.Equal(history.Events.Count, result.Events);
        Assert.Equal(history.Events.Count, progress.Max(p => p.EventsPosted));
        Assert.True(result.Requests >= history.Events.Count / 400);
        var reporting = await api.ClientAsync(LedgerRole.Reporting);
        var milestones = await UntilCaughtUpAsync(() => reporting.GetMilestonesAsync("shanghai", result.Position, Ct), m => m.Freshness);
        var first = milestones.Units.Single(u => u.Nth == 1);
        var thousandth = milestones.Units.Single(u => u.Nth == 1_000);
        Assert.Equal(("SHA-2025-000001", new DateOnly(2025, 2, 11)), (first.Serial, first.LocalDate));
        Assert.Equal("SHA-2025-001000", thousandth.Serial);
        Assert.True(thousandth.LocalDate < new DateOnly(2025, 8, 11), $"the 1,000th unit was built on {thousandth.LocalDate}");
        var australia = milestones.FirstShipmentsByRegion.Single(s => s.Region == MarketRegions.Australia);
        Assert.Equal((2025, 3), (australia.LocalDate.Year, australia.LocalDate.Month));
        Assert.Equal(australia.LocalDate, milestones.FirstShipmentsByRegion.Min(s => s.LocalDate));
        Assert.Contains(milestones.FirstShipmentsByRegion, s => s.Region == MarketRegions.Europe);

        var days = await reporting.GetThroughputAsync("shanghai", new ThroughputQuery
        {
            From = new(2025, 2, 11), To = new(2025, 8, 31), Bucket = "day", MinPosition = result.Position,
        }, Ct);
        var onTheDay = days.Buckets.Single(b => b.BucketStart == thousandth.LocalDate);
        Assert.InRange(onTheDay.CumulativeUnitsBuilt, 1_000, 1_000 + onTheDay.UnitsBuilt - 1);
        Assert.InRange(onTheDay.RunRateUnitsPerYear, 2_000m, 2_500m);
        Assert.True(days.Buckets[^1].RunRateUnitsPerYear > onTheDay.RunRateUnitsPerYear, "still ramping");

        var unit = await reporting.GetUnitAsync("SHA-2025-001000", Ct);
        Assert.Equal(MarketRegions.Europe, unit!.Destination!.Region);
        var auditor = await api.ClientAsync(LedgerRole.Auditor);
        var recorded = await auditor.GetUnitHistoryAsync("SHA-2025-001000", Ct);
        Assert.Equal(["shanghai-mes", "shanghai-eol-test", "shanghai-logistics"], recorded!.Events.Select(e => e.Actor).Distinct());
        // Each post says which history it belongs to (the as-of a stopped seeding is finished from) and who posted it.
        Assert.All(recorded.Events, e => Assert.StartsWith($"demo-20250831T150000.0000000Z-{e.Actor}-", e.CorrelationId, StringComparison.Ordinal));
        Assert.All(recorded.Events, e => Assert.True(DemoSeeder.TryReadAsOf(e.CorrelationId, out var asOf) && asOf == EndOfAugust2025, e.CorrelationId));
    }

    [Fact]
    public async Task A_refused_event_stops_the_seeding_and_reaches_the_caller_as_the_ledgers_problem()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var api = new LedgerApiFactory(db.ConnectionString);
        var history = DemoHistory.Generate(new DemoHistoryOptions { Until = new DateTimeOffset(2025, 3, 31, 0, 0, 0, TimeSpan.Zero), Factories = ["shanghai"] });
        // Every system posts with a Lathrop key: the ledger refuses Shanghai's builds, and nothing after them is posted.
        var lathrop = await api.CreateKeyAsync(LedgerRole.Line, "lathrop");
        var seeder = new DemoSeeder(_ => new LedgerClient(api.CreateClient(), new LedgerClientOptions { ApiKey = lathrop })) { WindowEvents = 200, BatchEvents = 100 };

        var refused = await Assert.ThrowsAsync<LedgerProblemException>(() => seeder.SeedAsync(history, cancellationToken: Ct));

        Assert.Equal(LedgerProblemTypes.WrongFactory, refused.Problem.Type);
        var reporting = await api.ClientAsync(LedgerRole.Reporting);
        Assert.Null(await reporting.GetUnitAsync("SHA-2025-000001", Ct));
    }

    /// <summary>Reads until the read model has reached the position asked for (each read waits up to 5 seconds for it).</summary>
    private static async Task<T> UntilCaughtUpAsync<T>(Func<Task<T>> read, Func<T, ReadFreshness> freshness)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var answer = await read();
            if (!freshness(answer).Behind || DateTime.UtcNow > deadline) return answer;
        }
    }

    /// <summary>A progress sink that records reports as they are made (<see cref="Progress{T}"/> posts them later).</summary>
    private sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
    {
        private readonly Lock _gate = new();

        public void Report(T value)
        {
            lock (_gate) report(value);
        }
    }
}
