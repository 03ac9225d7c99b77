using Ledger.EventStore.Projections;
using Ledger.EventStore.Tests.Support;
using Ledger.Testing;
using Npgsql;

namespace Ledger.EventStore.Tests.Projections;

/// <summary>
/// The rules migration 0014 defines once for every query that needs them: a shard's name in Marten's daemon
/// (<c>ledger.projection_shard</c>, which must be JasperFx's own rule) and the lag behind a progression
/// (<c>ledger.feed_lag</c>), as the benchmark and the daemon probe sample it
/// (<see cref="ProjectionAdmin.CreateLagSample"/>).
/// </summary>
public sealed class ProjectionShardSqlTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("factory-throughput")]
    [InlineData("integration")]
    [InlineData("integration-milestones")]
    public async Task The_shard_name_in_sql_is_the_one_martens_daemon_uses(string name)
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var node = await Node.StartAsync(db.ConnectionString);

        var shard = await Db.ScalarAsync<string>(node.DataSource, "select ledger.projection_shard(@name)", new NpgsqlParameter<string>("name", name));

        Assert.Equal(MartenSetup.ShardName(name), shard);
    }

    [Fact]
    public async Task The_lag_sample_is_the_age_of_the_oldest_event_after_the_slowest_progression()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var node = await Node.StartAsync(db.ConnectionString);
        var stream = Events.NewStream();
        var older = (await node.Store.AppendToStreamAsync(stream, ExpectedVersion.Any, Events.Many(2), Ct)).Events[0].Position;
        // History is append-only (no backdating): the two appends are apart in time, so the oldest and the newest event
        // after a progression have ages the sample can tell apart.
        await Task.Delay(TimeSpan.FromMilliseconds(300), Ct);
        var newer = (await node.Store.AppendToStreamAsync(stream, ExpectedVersion.Any, Events.Many(3), Ct)).Events[^1].Position;
        await SetProgressionAsync(node.DataSource, "ahead", newer);
        await SetProgressionAsync(node.DataSource, "behind", older - 1);

        Assert.Equal(0, await SampleAsync(node.DataSource, ["ahead"]));
        var oldestAgeBefore = await AgeAsync(node.DataSource, older);
        var sample = await SampleAsync(node.DataSource, ["ahead", "behind"]);
        var oldestAgeAfter = await AgeAsync(node.DataSource, older);
        Assert.InRange(sample, oldestAgeBefore, oldestAgeAfter);
        // Which would not hold for the newer events' age: they are younger by the pause.
        Assert.True(oldestAgeBefore - await AgeAsync(node.DataSource, newer) > 0.25);
        // A shard with no progression row stands at the start of the feed.
        Assert.True(await SampleAsync(node.DataSource, ["never-ran"]) >= oldestAgeBefore);

        Assert.Equal(5, await Db.ScalarAsync<long>(node.DataSource, "select events from ledger.feed_lag(@p)", new NpgsqlParameter<long>("p", older - 1)));
        Assert.Equal(0, await Db.ScalarAsync<long>(node.DataSource, "select events from ledger.feed_lag(@p)", new NpgsqlParameter<long>("p", newer)));
    }

    private static Task<double> AgeAsync(NpgsqlDataSource dataSource, long position) =>
        Db.ScalarAsync<double>(dataSource,
            "select extract(epoch from clock_timestamp() - recorded_at)::float8 from ledger.events where position = @p", new NpgsqlParameter<long>("p", position));

    private static async Task SetProgressionAsync(NpgsqlDataSource dataSource, string name, long position)
    {
        await using var command = dataSource.CreateCommand(
            "insert into ledger.mt_event_progression (name, last_seq_id) values (ledger.projection_shard(@name), @position)");
        command.Parameters.AddWithValue("name", name);
        command.Parameters.AddWithValue("position", position);
        await command.ExecuteNonQueryAsync(Ct);
    }

    private static async Task<double> SampleAsync(NpgsqlDataSource dataSource, string[] names)
    {
        await using var connection = await dataSource.OpenConnectionAsync(Ct);
        await using var sample = ProjectionAdmin.CreateLagSample(names);
        sample.Connection = connection;
        return (double)(await sample.ExecuteScalarAsync(Ct))!;
    }
}
