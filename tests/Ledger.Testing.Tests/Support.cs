using System.Diagnostics;
using Npgsql;

namespace Ledger.Testing.Tests;

internal static class Sql
{
    /// <summary>
    /// Unpooled, because these tests stop and kill servers: a pooled connection would survive that and fail the next
    /// statement for reasons that have nothing to do with what is being tested.
    /// </summary>
    public static string Unpooled(string connectionString) =>
        new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString;

    public static async Task<T> ScalarAsync<T>(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(Unpooled(connectionString));
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync(TestContext.Current.CancellationToken))!;
    }

    public static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(Unpooled(connectionString));
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
    }

    public static Task<long> TableCountAsync(string connectionString) =>
        ScalarAsync<long>(connectionString, "select count(*) from information_schema.tables where table_schema = 'public'");

    public static async Task<bool> DatabaseExistsAsync(PostgresServer server, string name)
    {
        await using var connection = new NpgsqlConnection(Unpooled(server.SuperuserConnectionString));
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var command = new NpgsqlCommand("select exists (select from pg_database where datname = $1)", connection)
        {
            Parameters = { new() { Value = name } },
        };
        return (bool)(await command.ExecuteScalarAsync(TestContext.Current.CancellationToken))!;
    }
}

internal static class Eventually
{
    /// <summary>Waits for a condition that becomes true on its own (a killed process being gone), up to a deadline.</summary>
    public static async Task HoldsAsync(Func<bool> condition, string what, TimeSpan? within = null)
    {
        var deadline = Stopwatch.StartNew();
        var limit = within ?? TimeSpan.FromSeconds(30);
        while (!condition())
        {
            if (deadline.Elapsed > limit)
            {
                Assert.Fail($"Expected {what} within {limit.TotalSeconds:0} s.");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50), TestContext.Current.CancellationToken);
        }
    }
}

internal static class Containers
{
    /// <summary>The exit code of a container that has stopped, as <c>docker inspect</c> shows it.</summary>
    public static async Task<long> ExitCodeAsync(string id)
    {
        using var client = OwnedContainers.DockerClient();
        var inspected = await client.Containers.InspectContainerAsync(id, TestContext.Current.CancellationToken);
        var state = inspected.State ?? throw new InvalidOperationException($"Docker reports no state for container {id}.");
        Assert.False(state.Running, $"Container {id} is still running.");
        return state.ExitCode;
    }

    /// <summary>The names of the Docker volumes a container mounts (its data, for an image that declares a VOLUME).</summary>
    public static async Task<IReadOnlyList<string>> VolumesAsync(string id)
    {
        using var client = OwnedContainers.DockerClient();
        var inspected = await client.Containers.InspectContainerAsync(id, TestContext.Current.CancellationToken);
        return [.. inspected.Mounts.Where(m => m.Type == "volume" && m.Name is not null).Select(m => m.Name!)];
    }

    public static async Task<bool> VolumeExistsAsync(string name)
    {
        using var client = OwnedContainers.DockerClient();
        try
        {
            await client.Volumes.InspectAsync(name, TestContext.Current.CancellationToken);
            return true;
        }
        catch (Docker.DotNet.DockerApiException e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return false;
        }
    }
}
