using System.Diagnostics;
using Ledger.LocalPostgres;
using Npgsql;

namespace Ledger.Testing.Tests;

/// <summary>Each test runs a cluster of its own, so that stopping and killing servers leaves the shared one alone.</summary>
public sealed class LocalPostgresClusterTests
{
    static readonly Dictionary<string, string> NoSync = new() { ["fsync"] = "off" };

    [Fact]
    public async Task A_cluster_stopped_immediately_restarts_on_the_same_port_with_its_committed_data()
    {
        await using var temporary = await ScratchCluster.CreateAsync();
        var cluster = temporary.Cluster;
        var port = cluster.Port;
        await Sql.ExecuteAsync(cluster.ConnectionString(), "create table kept (id int); insert into kept values (42)");

        await cluster.StopAsync(PostgresStopMode.Immediate, TestContext.Current.CancellationToken);

        Assert.False(cluster.IsRunning);
        await Assert.ThrowsAnyAsync<NpgsqlException>(() => Sql.ScalarAsync<int>(cluster.ConnectionString(), "select 1"));

        await cluster.StartAsync(TestContext.Current.CancellationToken);

        Assert.True(cluster.IsRunning);
        Assert.Equal(port, cluster.Port);
        Assert.Equal(42, await Sql.ScalarAsync<int>(cluster.ConnectionString(), "select id from kept"));
        Assert.Equal(port, int.Parse(await Sql.ScalarAsync<string>(cluster.ConnectionString(), "show port"), System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task A_cluster_killed_outright_starts_again_with_its_committed_data()
    {
        await using var temporary = await ScratchCluster.CreateAsync();
        var cluster = temporary.Cluster;
        await Sql.ExecuteAsync(cluster.ConnectionString(), "create table kept (id int); insert into kept values (7)");
        var postmasterPid = int.Parse(File.ReadLines(Path.Combine(cluster.DataDirectory, "postmaster.pid")).First(), System.Globalization.CultureInfo.InvariantCulture);

        using (var postmaster = Process.GetProcessById(postmasterPid))
        {
            postmaster.Kill(entireProcessTree: true);
        }

        await Eventually.HoldsAsync(() => !cluster.IsRunning, "the killed server to be gone");
        Assert.True(File.Exists(Path.Combine(cluster.DataDirectory, "postmaster.pid")), "A killed server leaves its postmaster.pid behind.");

        await cluster.StartAsync(TestContext.Current.CancellationToken);

        Assert.Equal(7, await Sql.ScalarAsync<int>(cluster.ConnectionString(), "select id from kept"));
    }

    [Fact]
    public async Task A_postmaster_pid_naming_a_process_that_is_not_postgres_does_not_block_the_start()
    {
        await using var temporary = await ScratchCluster.CreateAsync();
        var cluster = temporary.Cluster;
        var pidFile = Path.Combine(cluster.DataDirectory, "postmaster.pid");
        var lines = await File.ReadAllLinesAsync(pidFile, TestContext.Current.CancellationToken);
        await cluster.StopAsync(PostgresStopMode.Fast, TestContext.Current.CancellationToken);

        // After a reboot the pid of the crashed server often belongs to some other live process; PostgreSQL alone would
        // refuse to start ("lock file already exists").
        lines[0] = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        await File.WriteAllLinesAsync(pidFile, lines, TestContext.Current.CancellationToken);
        Assert.False(cluster.IsRunning);

        await cluster.StartAsync(TestContext.Current.CancellationToken);

        Assert.True(cluster.IsRunning);
        Assert.Equal(1, await Sql.ScalarAsync<int>(cluster.ConnectionString(), "select 1"));
    }

    [Fact]
    public async Task A_postmaster_pid_naming_the_server_of_another_cluster_neither_blocks_the_start_nor_stops_that_server()
    {
        await using var crashed = await ScratchCluster.CreateAsync();
        await using var neighbour = await ScratchCluster.CreateAsync();
        var pidFile = Path.Combine(crashed.Cluster.DataDirectory, "postmaster.pid");
        var lines = await File.ReadAllLinesAsync(pidFile, TestContext.Current.CancellationToken);
        await crashed.Cluster.StopAsync(PostgresStopMode.Fast, TestContext.Current.CancellationToken);

        // PostgreSQL alone would take the live postgres process for its own server and refuse to start; a pg_ctl stop
        // trusting the file would stop the neighbour.
        lines[0] = File.ReadLines(Path.Combine(neighbour.Cluster.DataDirectory, "postmaster.pid")).First();
        await File.WriteAllLinesAsync(pidFile, lines, TestContext.Current.CancellationToken);
        Assert.False(crashed.Cluster.IsRunning);

        await crashed.Cluster.StartAsync(TestContext.Current.CancellationToken);

        Assert.True(crashed.Cluster.IsRunning);
        Assert.True(neighbour.Cluster.IsRunning);
        Assert.Equal(1, await Sql.ScalarAsync<int>(crashed.Cluster.ConnectionString(), "select 1"));
        Assert.Equal(1, await Sql.ScalarAsync<int>(neighbour.Cluster.ConnectionString(), "select 1"));
    }

    [Fact]
    public async Task A_persistent_data_directory_is_initialized_once_and_reused_across_restarts()
    {
        await using var directory = await ScratchCluster.CreateAsync(start: false);
        var options = new LocalPostgresOptions
        {
            DataDirectory = directory.Cluster.DataDirectory,
            SocketDirectory = directory.Cluster.SocketDirectory,
            Settings = NoSync,
        };

        var firstRun = new LocalPostgresCluster(options);
        Assert.True(await firstRun.InitIfNeededAsync(TestContext.Current.CancellationToken));
        await firstRun.StartAsync(TestContext.Current.CancellationToken);
        await Sql.ExecuteAsync(firstRun.ConnectionString(), "create table kept (id int); insert into kept values (1)");
        await firstRun.StopAsync(cancellationToken: TestContext.Current.CancellationToken);
        Assert.False(firstRun.IsRunning);

        var secondRun = new LocalPostgresCluster(options);
        Assert.False(await secondRun.InitIfNeededAsync(TestContext.Current.CancellationToken));
        await secondRun.StartAsync(TestContext.Current.CancellationToken);

        Assert.Equal(1, await Sql.ScalarAsync<int>(secondRun.ConnectionString(), "select id from kept"));
        await secondRun.StopAsync(cancellationToken: TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task A_server_left_running_by_an_earlier_process_is_restarted_with_the_new_options()
    {
        await using var temporary = await ScratchCluster.CreateAsync();
        var earlier = temporary.Cluster;

        var later = new LocalPostgresCluster(new LocalPostgresOptions
        {
            DataDirectory = earlier.DataDirectory,
            SocketDirectory = earlier.SocketDirectory,
            Settings = new Dictionary<string, string> { ["fsync"] = "off", ["application_name"] = "later" },
        });
        Assert.True(later.IsRunning);
        Assert.NotEqual(earlier.Port, later.Port);

        await later.StartAsync(TestContext.Current.CancellationToken);

        Assert.Equal("later", await Sql.ScalarAsync<string>(later.ConnectionString(), "show application_name"));
    }

    [Fact]
    public async Task A_server_that_fails_to_start_reports_the_end_of_its_log()
    {
        await using var directory = await ScratchCluster.CreateAsync(start: false);
        var cluster = new LocalPostgresCluster(new LocalPostgresOptions
        {
            DataDirectory = directory.Cluster.DataDirectory,
            SocketDirectory = directory.Cluster.SocketDirectory,
            Settings = new Dictionary<string, string> { ["fsync"] = "off", ["shared_buffers"] = "plenty" },
        });
        await cluster.InitIfNeededAsync(TestContext.Current.CancellationToken);

        var failure = await Assert.ThrowsAsync<LocalPostgresException>(() => cluster.StartAsync(TestContext.Current.CancellationToken));

        Assert.Contains("invalid value for parameter \"shared_buffers\"", failure.Message, StringComparison.Ordinal);
        Assert.Contains(cluster.LogFile, failure.Message, StringComparison.Ordinal);
        Assert.False(cluster.IsRunning);
    }

    [Fact]
    public async Task Stopping_a_cluster_that_is_not_running_does_nothing()
    {
        await using var temporary = await ScratchCluster.CreateAsync();
        await temporary.Cluster.StopAsync(PostgresStopMode.Immediate, TestContext.Current.CancellationToken);

        await temporary.Cluster.StopAsync(PostgresStopMode.Fast, TestContext.Current.CancellationToken);

        Assert.False(temporary.Cluster.IsRunning);
    }

    [Fact]
    public void The_connection_string_goes_through_the_socket_directory_as_postgres()
    {
        var cluster = new LocalPostgresCluster(new LocalPostgresOptions { DataDirectory = "/tmp/ledger-unused/data", Port = 54321 });

        var builder = new NpgsqlConnectionStringBuilder(cluster.ConnectionString("ledger"));

        Assert.Equal("/tmp/ledger-unused/data", builder.Host);
        Assert.Equal(54321, builder.Port);
        Assert.Equal("postgres", builder.Username);
        Assert.Equal("ledger", builder.Database);
    }
}
