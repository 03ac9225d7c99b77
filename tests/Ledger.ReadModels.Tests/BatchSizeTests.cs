using Ledger.ReadModels.Tests.Support;

namespace Ledger.ReadModels.Tests;

/// <summary>
/// Replaying the same feed in other page sizes, into shadow copies of the tables (as a rebuild does, through the
/// batch's table mapping), must give identical tables: nothing may depend on where a page happens to end.
/// </summary>
public sealed class BatchSizeTests(ProjectedHistory history) : IClassFixture<ProjectedHistory>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(20_000)]
    [InlineData(97)]
    [InlineData(13)]
    public async Task Applying_the_history_in_other_batch_sizes_gives_identical_tables(int batchSize)
    {
        var schema = $"shadow_{batchSize}";
        var tables = ProjectedHistory.Projections().SelectMany(p => p.Tables).ToArray();
        await using (var create = history.DataSource.CreateCommand(
            $"create schema {schema}; " + string.Concat(tables.Select(t => $"create table {Shadow(t)} (like {t} including all); "))))
        {
            await create.ExecuteNonQueryAsync(Ct);
        }

        await ProjectionDriver.RunAsync(history.DataSource, ProjectedHistory.Projections(), batchSize, Ct, Shadow);

        foreach (var table in tables)
        {
            Assert.True(await CountAsync($"select count(*) from {table}") > 0, $"{table} has rows");
            Assert.Equal(0, await CountAsync(
                $"select count(*) from ((table {table} except all table {Shadow(table)}) " +
                $"union all (table {Shadow(table)} except all table {table})) as difference"));
        }

        string Shadow(string table) => $"{schema}.{table.Split('.')[1]}";
    }

    private async Task<long> CountAsync(string sql)
    {
        await using var command = history.DataSource.CreateCommand(sql);
        return (long)(await command.ExecuteScalarAsync(Ct))!;
    }
}
