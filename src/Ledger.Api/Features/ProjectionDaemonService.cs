namespace Ledger.Api.Features;

/// <summary>The daemon's settings a host sets in code (`ledger run`).</summary>
public static class ProjectionDaemonSettings
{
    /// <summary>Start the daemon with the read models held until the host fills them (see <see cref="ProjectionDaemonService.HoldsReadModels"/>).</summary>
    public const string HoldReadModels = "Ledger:Projections:HoldReadModels";
}

/// <summary>
/// Starts Marten's async daemon on this node, over the ledger's asynchronous read models. Every node runs one (HotCold):
/// the daemons compete for each projection on an advisory lock, exactly one applies it at a time, and another takes it
/// over when its owner's process dies (docs/projections.md). Registered after the migration step and the factory
/// registry's first load, so the daemon never meets a schema it was not built for or a registry not yet read.
/// </summary>
internal sealed partial class ProjectionDaemonService(
    EventStore.EventStore store, IConfiguration configuration, ILogger<ProjectionDaemonService> logger) : IHostedService
{
    /// <summary>Whether this node runs the daemon (<c>Ledger:Projections:RunDaemon</c>, default true).</summary>
    public static bool RunsDaemon(IConfiguration configuration) => configuration.GetValue("Ledger:Projections:RunDaemon", true);

    /// <summary>
    /// Whether this node's daemon starts with the read models held (<c>Ledger:Projections:HoldReadModels</c>, default
    /// false): it runs the integration subscriptions, not the read models, until the host fills and releases them
    /// (<see cref="EventStore.EventStore.FillHeldProjectionsAsync"/>). Only for a host that does so: `ledger run` seeding a
    /// ledger it has just created (docs/projections.md, "Held read models").
    /// </summary>
    public static bool HoldsReadModels(IConfiguration configuration) => configuration.GetValue(ProjectionDaemonSettings.HoldReadModels, false);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!RunsDaemon(configuration))
        {
            LogDaemonOff(logger);
            return;
        }

        await store.StartProjectionsAsync().WaitAsync(cancellationToken);
    }

    // The store stops the daemon when the host disposes it, after the server stopped taking requests.
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Information, Message = "The projection daemon is off on this node (Ledger:Projections:RunDaemon=false)")]
    private static partial void LogDaemonOff(ILogger logger);
}
