using Ledger.Api.Features;
using Ledger.Api.Tests.Support;
using Ledger.EventStore;
using Ledger.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Ledger.Api.Tests.Operations;

/// <summary>
/// Only a host that fills the read models may start the daemon with them held (`ledger run`, in code): a node held any
/// other way would never release them (issue 15 P8), so no configuration, from appsettings or the environment, holds them.
/// </summary>
public sealed class HeldReadModelsTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    [Fact]
    public async Task The_service_cannot_be_made_to_hold_its_read_models_through_configuration()
    {
        // The key that held them until it was removed, and its environment spelling.
        await using var api = new LedgerApiFactory(database.ConnectionString, settings: new Dictionary<string, string?>
        {
            ["Ledger:Projections:HoldReadModels"] = "true",
            ["Ledger__Projections__HoldReadModels"] = "true",
        });

        var options = api.Services.GetRequiredService<EventStoreOptions>();

        Assert.Equal(3, options.AsyncProjections.Count);
        Assert.Empty(options.HeldProjections);
    }

    [Fact]
    public async Task A_host_that_fills_them_holds_every_read_model_in_code()
    {
        await using var api = new LedgerApiFactory(database.ConnectionString);
        await using var held = api.WithWebHostBuilder(b => b.ConfigureServices(services => services.HoldReadModelsUntilFilled()));

        var options = held.Services.GetRequiredService<EventStoreOptions>();

        Assert.Equal(options.AsyncProjections.Select(p => p.Name).Order(), options.HeldProjections.Order());
        Assert.Equal(3, options.HeldProjections.Count);
    }
}
