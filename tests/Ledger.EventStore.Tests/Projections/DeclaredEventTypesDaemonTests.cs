using Ledger.EventStore.Projections;
using Ledger.EventStore.Tests.Support;
using Ledger.Testing;
using Npgsql;

namespace Ledger.EventStore.Tests.Projections;

/// <summary>
/// A read model that declares its event types (<see cref="IProjection.EventTypes"/>) has Marten's daemon load only those
/// for its shard (issue 15, P4). Marten then hands the shard sequence numbers with gaps; what the progress fence, the
/// skips, the handover, the rebuild's swap and the lag rely on is that the shard's progression still reaches the
/// high-water mark when a page holds nothing of its types. Marten 9.62.0 ends a page that is not full at the mark it read
/// up to (<c>EventPage.CalculateCeiling</c>) and moves the progression there with nothing applied: checked here.
/// </summary>
public sealed class DeclaredEventTypesDaemonTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private const string Rare = "rare-thing.v1";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_shard_whose_type_is_rare_keeps_up_with_the_high_water_mark_and_applies_its_event_when_it_comes()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var writer = await Node.StartAsync(db.ConnectionString);
        var rare = new MartenCounter("rare") { EventTypes = [Rare] };
        await rare.CreateTablesAsync(writer.DataSource);
        var log = new CapturedLog();
        await using var node = await MartenNode.StartAsync(db.ConnectionString, "solo", log, rare);
        var admin = new ProjectionAdmin(writer.DataSource);

        // Several daemon pages (500) of other types. A twentieth are of a type this daemon cannot read at all: had Marten
        // loaded them for the shard, it would stop on them (UnknownEventTypeException; unknown events are not skipped), so
        // the shard passing them shows that the filter is in Marten's query, not only in what we hand the read model.
        for (var i = 0; i < 24; i++)
        {
            await writer.Store.AppendToStreamAsync(Events.NewStream(), ExpectedVersion.Any,
                [.. Events.Many(95), .. Events.Many(5, "unknown-thing.v1")], Ct);
        }

        var head = await HeadAsync(writer.DataSource);
        await Eventually.HoldsAsync(async () => await ProgressionAsync(writer.DataSource, "rare:All") == head,
            "the shard's progression reaches the high-water mark although no event of its type was stored",
            TimeSpan.FromSeconds(60));
        Assert.Empty(await rare.ReadLogAsync(writer.DataSource));
        var idle = (await admin.GetStatusAsync("rare", Ct))!;
        Assert.Equal((ProjectionState.Running, 0L, head), (idle.State, idle.LagEvents, idle.Cursor.Position));

        var appended = await writer.Store.AppendToStreamAsync(Events.NewStream(), ExpectedVersion.Any, [Events.Make(Rare)], Ct);
        var position = appended.Events.Single().Position;
        await Eventually.HoldsAsync(async () => (await rare.ReadLogAsync(writer.DataSource)).Count > 0, "the rare event is applied");

        Assert.Equal([position], await rare.ReadLogAsync(writer.DataSource));
        Assert.Equal(position, await HeadAsync(writer.DataSource));
        await Eventually.HoldsAsync(async () => await ProgressionAsync(writer.DataSource, "rare:All") == position,
            "the shard's progression stands at the rare event, the head of the store");
        var status = (await admin.GetStatusAsync("rare", Ct))!;
        Assert.Equal((ProjectionState.Running, 0L, "solo"), (status.State, status.LagEvents, status.OwnerNode));
        Assert.DoesNotContain(log.Entries, e => e.Exception is not null);
    }

    [Fact]
    public async Task A_shard_whose_type_is_rare_stops_at_its_failing_event_and_a_skip_takes_it_to_the_head()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var writer = await Node.StartAsync(db.ConnectionString);
        var poisonId = Guid.CreateVersion7();
        var fragile = new MartenCounter("rare-fragile") { EventTypes = [Rare], FailOn = e => e.EventId == poisonId };
        await fragile.CreateTablesAsync(writer.DataSource);
        var admin = new ProjectionAdmin(writer.DataSource);

        // Other types around the two rare events, more than a page (500) of them before, between and after.
        await AppendOthersAsync(writer, 6);
        var poison = (await writer.Store.AppendToStreamAsync(Events.NewStream(), ExpectedVersion.Any, [Events.Make(Rare, id: poisonId)], Ct)).Events.Single();
        await AppendOthersAsync(writer, 6);
        var good = (await writer.Store.AppendToStreamAsync(Events.NewStream(), ExpectedVersion.Any, [Events.Make(Rare)], Ct)).Events.Single();
        await AppendOthersAsync(writer, 6);
        var head = await HeadAsync(writer.DataSource);

        await using var node = await MartenNode.StartAsync(db.ConnectionString, "solo", new CapturedLog(), fragile);
        await Eventually.HoldsAsync(async () => (await admin.GetStatusAsync("rare-fragile", Ct))?.State == ProjectionState.Failed,
            "the read model fails on the poisoned event", TimeSpan.FromSeconds(60));
        var failed = (await admin.GetStatusAsync("rare-fragile", Ct))!;
        Assert.Equal((poison.EventId, poison.Position), (failed.Failure!.EventId, failed.Failure.Position));
        // Both rare events fall in the shard's first page, so its progression has not moved.
        Assert.True(failed.Cursor.Position < poison.Position, $"the cursor {failed.Cursor} stays before the failed event at {poison.Position}");
        Assert.Empty(await fragile.ReadLogAsync(writer.DataSource));

        Assert.NotNull(await admin.SkipAsync("rare-fragile", "tests", Ct));
        await Eventually.HoldsAsync(async () => await ProgressionAsync(writer.DataSource, "rare-fragile:All") == head,
            "the skipped shard's progression reaches the head", TimeSpan.FromSeconds(60));
        Assert.Equal([good.Position], await fragile.ReadLogAsync(writer.DataSource));
        var status = (await admin.GetStatusAsync("rare-fragile", Ct))!;
        Assert.Equal((ProjectionState.Running, 0L), (status.State, status.LagEvents));
    }

    [Fact]
    public async Task A_read_model_declaring_a_type_the_store_does_not_map_is_refused_when_the_daemon_is_configured()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        var counter = new MartenCounter("unmapped") { EventTypes = [Rare, "not-mapped.v1"] };

        var refused = await Record.ExceptionAsync(async () =>
        {
            await using var node = await MartenNode.StartAsync(db.ConnectionString, "solo", new CapturedLog(), counter);
        });

        var chain = new List<Exception>();
        for (var e = refused; e is not null; e = e.InnerException) chain.Add(e);
        Assert.Contains(chain, e => e is InvalidOperationException && e.Message.Contains("(not-mapped.v1)", StringComparison.Ordinal));
    }

    private static async Task AppendOthersAsync(Node writer, int appends)
    {
        for (var i = 0; i < appends; i++) await writer.Store.AppendToStreamAsync(Events.NewStream(), ExpectedVersion.Any, Events.Many(100), Ct);
    }

    private static Task<long> HeadAsync(NpgsqlDataSource dataSource) =>
        Db.ScalarAsync<long>(dataSource, "select coalesce(max(seq_id), 0) from ledger.mt_events");

    private static async Task<long?> ProgressionAsync(NpgsqlDataSource dataSource, string shard) =>
        await Db.ScalarAsync<long?>(dataSource, "select last_seq_id from ledger.mt_event_progression where name = @name",
            new NpgsqlParameter<string>("name", shard));
}
