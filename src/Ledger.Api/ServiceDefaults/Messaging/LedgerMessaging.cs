using JasperFx;
using JasperFx.CodeGeneration;
using Ledger.EventStore;
using Marten;
using Wolverine;
using Wolverine.Http;
using Wolverine.Marten;

namespace Ledger.Api.ServiceDefaults.Messaging;

/// <summary>
/// The Critter Stack's wiring in one place (issue 13, docs/decisions/0007): Marten registered with the host so that
/// Wolverine's Marten integration (its envelope storage in the ledger's schema, the transactional outbox, event
/// subscriptions) finds it, and Wolverine itself: commands, HTTP endpoints, messaging and scheduled work.
/// </summary>
public static class LedgerMessaging
{
    public static WebApplicationBuilder AddLedgerMessaging(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;

        // The store the EventStore runs on, configured exactly as MartenSetup and the store's options say; the host owns it.
        services.AddMarten(sp =>
            {
                var marten = new StoreOptions();
                EventStore.EventStore.ConfigureMarten(marten, sp.GetRequiredService<Npgsql.NpgsqlDataSource>(), sp.GetRequiredService<EventStoreOptions>());
                return marten;
            })
            .IntegrateWithWolverine(integration =>
            {
                // Wolverine's tables come from the numbered migrations like every other (0011_wolverine_messages.sql): a
                // running service never alters the schema.
                integration.AutoCreate = AutoCreate.None;
            });

        builder.Host.UseWolverine(options =>
        {
            options.ServiceName = "ledger";
            options.ApplicationAssembly = typeof(LedgerMessaging).Assembly;
            options.AutoBuildMessageStorageOnStartup = AutoCreate.None;
            // Pre-generated and committed: runtime compilation cost ~180 MB of RSS and seconds of start-up here, and .ci/run
            // regenerates the code and fails on any difference, since stale code silently 404s a new endpoint
            // (CRITTER-STACK.md; docs/decisions/0007, Q3).
            options.CodeGeneration.TypeLoadMode = TypeLoadMode.Static;
            options.CodeGeneration.ApplicationAssembly = typeof(LedgerMessaging).Assembly;
            ConfigureNodeHealth(options.Durability);
            options.Policies.AutoApplyTransactions();
            options.Policies.UseDurableLocalQueues();
            options.Policies.Add<CommandValidationPolicy>();
            IntegrationTransport.Configure(options, IntegrationTransport.BrokerUri(builder.Configuration));
        });
        services.AddWolverineHttp();
        return builder;
    }

    /// <summary>How often a node writes its heartbeat and checks the others' (Wolverine's node health checks).</summary>
    public static readonly TimeSpan NodeHealthCheckInterval = TimeSpan.FromSeconds(2);

    /// <summary>How old a node's last heartbeat must be for the others to count it as gone.</summary>
    public static readonly TimeSpan StaleNodeTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// A node that dies leaves the envelopes it owns (the durable local queues' inbox, the outbox) to it until another
    /// node ejects it and releases them. Wolverine's defaults (a heartbeat every 10 s, stale after 60 s, ejected on the
    /// second stale check) left a killed node's notifications unjournaled for 73-74 s (IntegrationEventsCrashTests).
    /// Here a node is ejected after two checks 2 s apart that find no heartbeat for 10 s, so 10-14 s after its last one,
    /// and its envelopes are recovered on the next durability poll (5 s). A live node writes its heartbeat every 2 s on
    /// a loop of its own (no other work can hold it up), so it must miss about six in a row, a 12 s stall, before it
    /// looks dead; and a node ejected while alive re-registers on its next heartbeat, at the price of at most
    /// redelivering what it held (consumers deduplicate by message id: docs/integration-events.md).
    /// docs/operations.md, "Wolverine's node health checks".
    /// </summary>
    internal static void ConfigureNodeHealth(DurabilitySettings durability)
    {
        durability.HealthCheckPollingTime = NodeHealthCheckInterval;
        durability.StaleNodeTimeout = StaleNodeTimeout;
        durability.StaleNodeEjectionThreshold = 2;
    }

    /// <summary>Maps the Wolverine.Http endpoints (the commands: recording events).</summary>
    public static WebApplication MapLedgerCommands(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapWolverineEndpoints(options =>
        {
            // ?version=abc would otherwise bind as 0 (CRITTER-STACK.md): a value that does not parse is a 400.
            options.RejectUnparseableQueryValues = true;
        });
        return app;
    }
}
