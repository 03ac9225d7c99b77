using Ledger.EventStore.Projections;
using Npgsql;

namespace Ledger.Api.Features;

/// <summary>
/// Runs the projection daemon on this node. Every node runs one; the daemons share the projections out among themselves
/// through advisory locks, so exactly one applies each projection at a time (docs/projections.md).
/// </summary>
internal sealed class ProjectionDaemonService(
    NpgsqlDataSource dataSource, IReadOnlyList<IProjection> projections, IConfiguration configuration, TimeProvider time,
    ILogger<ProjectionDaemon> logger) : BackgroundService
{
    /// <summary>A node id unique to this process unless configured: several nodes may run on one machine.</summary>
    private readonly string _nodeId = configuration["Ledger:NodeId"] is { Length: > 0 } configured
        ? configured
        : $"{Environment.MachineName}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..6]}";

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (configuration.GetValue("Ledger:Projections:RunDaemon", true) is false)
        {
            logger.LogInformation("The projection daemon is off on this node (Ledger:Projections:RunDaemon=false)");
            return Task.CompletedTask;
        }

        var daemon = new ProjectionDaemon(dataSource, projections, new ProjectionDaemonOptions { NodeId = _nodeId }, logger, time);
        return daemon.RunAsync(stoppingToken);
    }
}
