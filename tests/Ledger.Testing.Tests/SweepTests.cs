using System.Diagnostics;
using Ledger.LocalPostgres;

namespace Ledger.Testing.Tests;

public sealed class SweepTests
{
    [Fact]
    public async Task The_cluster_of_a_test_run_that_died_is_stopped_and_removed()
    {
        await using var abandoned = await TemporaryCluster.StartAsync(TestContext.Current.CancellationToken);
        var deadPid = await PidOfAProcessThatHasExitedAsync();
        await File.WriteAllTextAsync(
            Path.Combine(abandoned.Directory, TemporaryCluster.OwnerFileName),
            new TestRunOwner(deadPid, DateTime.UtcNow).ToString(),
            TestContext.Current.CancellationToken);

        await TemporaryCluster.SweepAbandonedAsync(PostgresInstallation.Find(), TestContext.Current.CancellationToken);

        // Another test process starting now may have swept it first; either way it must be gone.
        Assert.False(abandoned.Cluster.IsRunning);
        Assert.False(Directory.Exists(abandoned.Directory));
    }

    [Fact]
    public async Task The_cluster_of_a_test_run_whose_pid_was_reused_is_removed()
    {
        await using var abandoned = await TemporaryCluster.StartAsync(TestContext.Current.CancellationToken);
        var differentStart = TestRunOwner.Current.StartedUtc - TimeSpan.FromHours(1);
        await File.WriteAllTextAsync(
            Path.Combine(abandoned.Directory, TemporaryCluster.OwnerFileName),
            new TestRunOwner(Environment.ProcessId, differentStart).ToString(),
            TestContext.Current.CancellationToken);

        await TemporaryCluster.SweepAbandonedAsync(PostgresInstallation.Find(), TestContext.Current.CancellationToken);

        Assert.False(abandoned.Cluster.IsRunning);
        Assert.False(Directory.Exists(abandoned.Directory));
    }

    [Fact]
    public async Task The_clusters_of_live_test_runs_are_left_alone()
    {
        await using var live = await TemporaryCluster.StartAsync(TestContext.Current.CancellationToken);

        await TemporaryCluster.SweepAbandonedAsync(PostgresInstallation.Find(), TestContext.Current.CancellationToken);

        Assert.True(live.Cluster.IsRunning);
        Assert.Equal(1, await Sql.ScalarAsync<int>(live.Cluster.ConnectionString(), "select 1"));
    }

    [Fact]
    public async Task Disposing_a_temporary_cluster_stops_it_and_deletes_its_files()
    {
        var temporary = await TemporaryCluster.StartAsync(TestContext.Current.CancellationToken);

        await temporary.DisposeAsync();

        Assert.False(temporary.Cluster.IsRunning);
        Assert.False(Directory.Exists(temporary.Directory));
    }

    static async Task<int> PidOfAProcessThatHasExitedAsync()
    {
        using var process = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!;
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        return process.Id;
    }
}
