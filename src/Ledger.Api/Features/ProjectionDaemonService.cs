namespace Ledger.Api.Features;

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
