using System.Text.Json;
using Ledger.EventStore;
using Ledger.EventStore.Schema;
using Ledger.Production.Units;
using Ledger.ReadModels.Tests.Support;
using Ledger.Testing;

namespace Ledger.ReadModels.Tests;

/// <summary>
/// Time travel (<c>GET /units/{serial}?version=</c> and <c>?asOf=</c>): Marten aggregates a prefix of the stream live
/// (<see cref="UnitHistory.StatusAtAsync"/>), the store reads the same prefix (<c>ReadStreamAsync</c>). At every version
/// and around every moment of generated histories, both must equal folding the same prefix of the history as it was
/// generated, before any database was involved. And why the prefix is not Marten's own cut: what Marten does with a
/// timestamp and with a version past the end, checked against Marten itself.
/// </summary>
public sealed class TimeTravelTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_unit_read_at_any_version_or_moment_equals_folding_that_prefix_of_its_history()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = EventStoreDataSource.Create(db.ConnectionString, "time-travel-tests");
        await new Migrator(dataSource).MigrateAsync([EventStoreSchema.Migrations], Ct);
        var units = History.Generate(seed: 42, lathropUnits: 60, shanghaiUnits: 60);
        await using var store = new EventStore.EventStore(dataSource, new EventStoreOptions { EventTypes = UnitEvents.StoredNamesByType });
        await History.AppendAsync(store, units, seed: 3, Ct);

        var points = 0;
        foreach (var unit in units)
        {
            var generated = unit.Events;
            var stored = await store.ReadStreamAsync(unit.Serial, cancellationToken: Ct);
            // Past the end of the stream: the unit as it is now.
            foreach (var version in Enumerable.Range(1, generated.Count + 1))
            {
                var prefix = generated.Take(version).ToList();
                var expected = UnitStatus.From(unit.Serial, UnitRules.Fold(prefix), stored[prefix.Count - 1].Position);
                var read = await store.ReadStreamAsync(unit.Serial, toVersion: version, cancellationToken: Ct);
                Assert.Equal(Json(UnitRules.Fold(prefix)), Json(UnitHistory.Fold(read)));
                Assert.Equal(expected, await UnitHistory.StatusAtAsync(store.Marten, unit.Serial, version, asOf: null, Ct));
                points++;
            }

            var moments = generated.SelectMany(e => new[] { e.OccurredAt.AddTicks(-10), e.OccurredAt, e.OccurredAt.AddTicks(10) })
                .Append(generated[0].OccurredAt.AddYears(-1)).Append(generated[^1].OccurredAt.AddYears(1));
            foreach (var moment in moments)
            {
                // The prefix up to the first event that occurred after the moment (events can be recorded out of time order).
                var prefix = generated.TakeWhile(e => e.OccurredAt <= moment).ToList();
                var read = await store.ReadStreamAsync(unit.Serial, asOf: moment, cancellationToken: Ct);
                Assert.Equal(prefix.Count, read.Count);
                Assert.Equal(Json(UnitRules.Fold(prefix)), Json(UnitHistory.Fold(read)));
                var status = await UnitHistory.StatusAtAsync(store.Marten, unit.Serial, toVersion: null, moment, Ct);
                if (prefix.Count == 0) Assert.Null(status);
                else Assert.Equal(UnitStatus.From(unit.Serial, UnitRules.Fold(prefix), stored[prefix.Count - 1].Position), status);
                points++;
            }
        }

        Assert.Null(await UnitHistory.StatusAtAsync(store.Marten, "LTH-NEVER-BUILT", 1, asOf: null, Ct));
        Assert.True(points > 2000, $"checked {points} points");
        // Aggregating a type Marten stores no documents of leaves the schema Marten expects as the migrations made it.
        await store.AssertSchemaAsync(Ct);
    }

    [Fact]
    public async Task Martens_own_cut_is_on_recorded_at_and_answers_nothing_past_the_end_of_a_stream()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = EventStoreDataSource.Create(db.ConnectionString, "time-travel-marten");
        await new Migrator(dataSource).MigrateAsync([EventStoreSchema.Migrations], Ct);
        var unit = History.Generate(seed: 42, lathropUnits: 1, shanghaiUnits: 0).Single();
        await using var store = new EventStore.EventStore(dataSource, new EventStoreOptions { EventTypes = UnitEvents.StoredNamesByType });
        await History.AppendAsync(store, [unit], seed: 3, Ct);
        var stored = await store.ReadStreamAsync(unit.Serial, cancellationToken: Ct);
        await using var session = store.Marten.QuerySession();

        // The unit's whole history occurred in 2024-2025 and was recorded today: by occurredAt (docs/api.md) all of it
        // is there at its last moment, but Marten's timestamp is the recorded-at, so its cut there holds nothing.
        var lastOccurred = unit.Events[^1].OccurredAt;
        Assert.True(stored[0].RecordedAt > lastOccurred);
        Assert.Empty(await session.Events.FetchStreamAsync(unit.Serial, timestamp: lastOccurred, token: Ct));
        Assert.Null(await session.Events.AggregateStreamAsync<UnitTimeline>(unit.Serial, timestamp: lastOccurred, token: Ct));
        Assert.Equal(stored.Count, (await session.Events.FetchStreamAsync(unit.Serial, timestamp: stored[^1].RecordedAt, token: Ct)).Count);

        // A version past the end: Marten answers nothing, the API the unit as it is.
        Assert.Null(await session.Events.AggregateStreamAsync<UnitTimeline>(unit.Serial, stored.Count + 1, token: Ct));
        Assert.Equal(stored.Count, (await UnitHistory.StatusAtAsync(store.Marten, unit.Serial, stored.Count + 1, asOf: null, Ct))!.Version);
    }

    private static string Json(UnitState state) => JsonSerializer.Serialize(state);
}
