namespace Ledger.Api.Features;

/// <summary>How a host that embeds the service (`ledger run`) sets up its daemon in code: never from configuration.</summary>
public static class ProjectionDaemonHosting
{
    /// <summary>
    /// Starts this node's daemon with the ledger's read models held: it runs the integration subscriptions, not the read
    /// models, until the host fills and releases them (<see cref="EventStore.EventStore.FillHeldProjectionsAsync"/>). Only
    /// for a host that does so: `ledger run` seeding a ledger it has just created (docs/projections.md, "Held read
    /// models"). A node held by anything else would never release them, so this is no setting an operator could turn on.
    /// </summary>
    public static IServiceCollection HoldReadModelsUntilFilled(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddSingleton<ReadModelsHeld>();
        return services;
    }

    /// <summary>Registered by <see cref="HoldReadModelsUntilFilled"/>: the read models start held on this node.</summary>
    internal sealed class ReadModelsHeld;
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
