using System.Diagnostics;

namespace Ledger.Testing.Tests;

public sealed class SweepTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_container_of_a_test_run_that_died_is_removed()
    {
        var deadPid = await PidOfAProcessThatHasExitedAsync();
        await using var abandoned = await PostgresContainer.StartAsync(new TestRunOwner(deadPid, DateTime.UtcNow), Ct);

        await OwnedContainers.SweepAbandonedAsync(TimeSpan.Zero, Ct);

        // Another test process starting now may have swept it first; either way it must be gone.
        Assert.False(await OwnedContainers.ExistsAsync(abandoned.Id, Ct));
    }

    [Fact]
    public async Task The_container_of_a_test_run_whose_pid_was_reused_is_removed()
    {
        var differentStart = TestRunOwner.Current.StartedUtc - TimeSpan.FromHours(1);
        await using var abandoned = await PostgresContainer.StartAsync(new TestRunOwner(Environment.ProcessId, differentStart), Ct);

        await OwnedContainers.SweepAbandonedAsync(TimeSpan.Zero, Ct);

        Assert.False(await OwnedContainers.ExistsAsync(abandoned.Id, Ct));
    }

    [Fact]
    public async Task The_containers_of_live_test_runs_are_left_alone()
    {
        await using var live = await PostgresContainer.StartAsync(Ct);

        await OwnedContainers.SweepAbandonedAsync(TimeSpan.Zero, Ct);

        Assert.True(await OwnedContainers.ExistsAsync(live.Id, Ct));
        Assert.Equal(1, await Sql.ScalarAsync<int>(live.ConnectionString(), "select 1"));
    }

    [Fact]
    public async Task Disposing_a_container_removes_it()
    {
        var container = await PostgresContainer.StartAsync(Ct);
        var id = container.Id;

        await container.DisposeAsync();

        Assert.False(await OwnedContainers.ExistsAsync(id, Ct));
    }

    [Fact]
    public async Task The_broker_of_a_test_run_that_died_is_removed()
    {
        var deadPid = await PidOfAProcessThatHasExitedAsync();
        await using var abandoned = await RabbitMqBroker.StartNewAsync(new TestRunOwner(deadPid, DateTime.UtcNow), Ct);

        await OwnedContainers.SweepAbandonedAsync(TimeSpan.Zero, Ct);

        Assert.False(await OwnedContainers.ExistsAsync(abandoned.Id, Ct));
    }

    [Fact]
    public async Task Disposing_a_broker_removes_it_and_its_data()
    {
        var broker = await RabbitMqBroker.StartNewAsync(Ct);
        var id = broker.Id;
        var volumes = await Containers.VolumesAsync(id);

        await broker.DisposeAsync();

        Assert.False(await OwnedContainers.ExistsAsync(id, Ct));
        foreach (var volume in volumes)
        {
            Assert.False(await Containers.VolumeExistsAsync(volume), $"The broker's volume {volume} was left behind.");
        }
    }

    static async Task<int> PidOfAProcessThatHasExitedAsync()
    {
        using var process = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!;
        await process.WaitForExitAsync(Ct);
        return process.Id;
    }
}
