namespace Ledger.Api.Access;

/// <summary>
/// On start, stores the admin key given in <c>Ledger:BootstrapAdminKey</c> (env <c>Ledger__BootstrapAdminKey</c>) as
/// <c>bootstrap-admin</c>, so a fresh ledger can be administered before any key exists. Runs after the migrations.
/// </summary>
internal sealed partial class BootstrapAdminKey(IConfiguration configuration, ApiKeyStore store, ILogger<BootstrapAdminKey> logger) : IHostedService
{
    public const string ConfigurationKey = "Ledger:BootstrapAdminKey";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var key = configuration[ConfigurationKey];
        if (string.IsNullOrWhiteSpace(key)) return;
        var outcome = await store.EnsureBootstrapAdminAsync(key.Trim(), cancellationToken);
        switch (outcome)
        {
            case BootstrapOutcome.Created: LogCreated(logger); break;
            case BootstrapOutcome.Revoked: LogRevoked(logger); break;
            default: break;
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(LogLevel.Information, "Stored the configured bootstrap admin key as 'bootstrap-admin'.")]
    private static partial void LogCreated(ILogger logger);

    [LoggerMessage(LogLevel.Warning, "The configured bootstrap admin key has been revoked and stays revoked; remove Ledger:BootstrapAdminKey from the configuration.")]
    private static partial void LogRevoked(ILogger logger);
}
