using System.Text.Json;
using Ledger.EventStore;
using Ledger.EventStore.Schema;
using Ledger.Production.Units;
using Ledger.ReadModels.Tests.Support;
using Ledger.Testing;

namespace Ledger.ReadModels.Tests;

/// <summary>
/// Time travel (<c>GET /units/{serial}?version=</c> and <c>?asOf=</c>) reads a prefix of the stream and folds it. At every
/// version and around every moment of generated histories, that must equal folding the same prefix of the history as it
/// was generated, before any database was involved.
/// </summary>
public sealed class TimeTravelTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_unit_read_at_any_version_or_moment_equals_folding_that_prefix_of_its_history()
    {
        await using var dataSource = EventStoreDataSource.Create(database.ConnectionString, "time-travel-tests");
        await new Migrator(dataSource).MigrateAsync([EventStoreSchema.Migrations], Ct);
        var units = History.Generate(seed: 42, lathropUnits: 60, shanghaiUnits: 60);
        await using var store = new EventStore.EventStore(dataSource);
        await History.AppendAsync(store, units, seed: 3, Ct);

        var points = 0;
        foreach (var unit in units)
        {
            var generated = unit.Events;
            for (var version = 1; version <= generated.Count; version++)
            {
                var read = await store.ReadStreamAsync(unit.Serial, toVersion: version, cancellationToken: Ct);
                Assert.Equal(Json(UnitRules.Fold(generated.Take(version))), Json(UnitHistory.Fold(read)));
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
                points++;
            }
        }

        Assert.True(points > 2000, $"checked {points} points");
    }

    private static string Json(UnitState state) => JsonSerializer.Serialize(state);
}
