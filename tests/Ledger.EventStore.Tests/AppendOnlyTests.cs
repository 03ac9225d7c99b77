using Ledger.EventStore.Tests.Support;
using Ledger.Testing;
using Npgsql;

namespace Ledger.EventStore.Tests;

public sealed class AppendOnlyTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>, IAsyncLifetime
{
    private Node _node = null!;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _node = await Node.StartAsync(database.ConnectionString);

    public ValueTask DisposeAsync() => _node.DisposeAsync();

    [Theory]
    [InlineData("update ledger.events set data = '{\"edited\":true}'")]
    [InlineData("delete from ledger.events")]
    [InlineData("update ledger.mt_events set headers = '{}'")]
    [InlineData("truncate ledger.mt_events")]
    [InlineData("delete from ledger.mt_streams")]
    public async Task History_cannot_be_changed_even_by_the_table_owner(string sql)
    {
        var stream = Events.NewStream();
        await _node.Store.AppendToStreamAsync(stream, ExpectedVersion.Any, Events.Many(2), Ct);
        var before = await _node.Store.ReadStreamAsync(stream, cancellationToken: Ct);

        await using var command = _node.DataSource.CreateCommand(sql);
        var error = await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteNonQueryAsync(Ct));

        Assert.Equal("P0001", error.SqlState);
        Assert.Contains("append-only", error.MessageText, StringComparison.Ordinal);
        var after = await _node.Store.ReadStreamAsync(stream, cancellationToken: Ct);
        Assert.Equal(before.Select(e => (e.EventId, e.Data)), after.Select(e => (e.EventId, e.Data)));
    }
}
