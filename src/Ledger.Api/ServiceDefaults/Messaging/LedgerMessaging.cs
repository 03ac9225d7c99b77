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
            options.Policies.AutoApplyTransactions();
            options.Policies.UseDurableLocalQueues();
            options.Policies.Add<CommandValidationPolicy>();
            IntegrationTransport.Configure(options, IntegrationTransport.BrokerUri(builder.Configuration));
        });
        services.AddWolverineHttp();
        return builder;
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
