using Ledger.EventStore.Audit;
using Npgsql;

namespace Ledger.Api.Features.Audit;

/// <summary>
/// Runs the audit sealer on this node. Every node may run one; an advisory lock lets one seal at a time, so blocks are
/// never forked (docs/auditing.md). <c>Ledger:Audit:RunSealer=false</c> turns it off on a node.
/// </summary>
internal sealed class AuditSealerService(
    NpgsqlDataSource dataSource, AuditSealerOptions options, IConfiguration configuration, TimeProvider time, ILogger<AuditSealer> logger) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (configuration.GetValue("Ledger:Audit:RunSealer", true) is false)
        {
            logger.LogInformation("The audit sealer is off on this node (Ledger:Audit:RunSealer=false)");
            return Task.CompletedTask;
        }

        return new AuditSealer(dataSource, options, time, logger).RunAsync(stoppingToken);
    }
}
