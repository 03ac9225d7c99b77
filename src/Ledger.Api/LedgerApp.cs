using Ledger.Api.Access;
using Ledger.Api.Dashboard;
using Ledger.Api.Features;
using Ledger.Api.ServiceDefaults;
using Ledger.Api.ServiceDefaults.Messaging;

namespace Ledger.Api;

/// <summary>The ledger's HTTP application, built the same way by <c>Program</c> and by <c>ledger run</c>.</summary>
public static class LedgerApp
{
    /// <summary>Builds the application; <paramref name="configure"/> runs first (settings from the command line tool).</summary>
    public static WebApplication Create(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        configure?.Invoke(builder);
        builder.AddLedgerServiceDefaults();
        builder.AddLedgerMessaging();
        builder.Services.AddLedgerFeatures();

        var app = builder.Build();
        app.UseLedgerServiceDefaults();
        var api = app.MapGroup("/api/v1");
        api.MapWhoAmI();
        api.MapLedgerFeatures();
        app.MapLedgerCommands();
        app.MapDashboard();
        return app;
    }
}
