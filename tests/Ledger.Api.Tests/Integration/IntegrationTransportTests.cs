using Ledger.Api.Features.Integration.Journal;
using Ledger.Api.ServiceDefaults.Messaging;
using Ledger.Api.Tests.Support;
using Ledger.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Wolverine;
using Wolverine.Runtime;
using Wolverine.Runtime.Routing;
using Wolverine.Util;

namespace Ledger.Api.Tests.Integration;

/// <summary>
/// With <c>Ledger:RabbitMq</c> set, every integration event type has exactly one route, to the exchange, and none to the
/// local journal. No broker here: Wolverine's external transports are stubbed (the broker tests are the lead's, on the
/// RabbitMQ fixture), so this checks the routing the configuration produces, not delivery.
/// </summary>
public sealed class IntegrationTransportTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    [Fact]
    public async Task With_a_broker_configured_every_integration_event_type_has_one_route_to_the_exchange()
    {
        await using var api = new LedgerApiFactory(database.ConnectionString, settings: new Dictionary<string, string?>
        {
            [IntegrationTransport.RabbitMqSetting] = "amqp://guest:guest@127.0.0.1:1/",
        }).WithWebHostBuilder(web => web.ConfigureServices(services => services.DisableAllExternalWolverineTransports()));
        _ = api.CreateClient();
        var runtime = api.Services.GetRequiredService<IWolverineRuntime>();

        Assert.NotEmpty(IntegrationTransport.MessageTypes);
        Assert.All(IntegrationTransport.MessageTypes, type =>
        {
            var route = Assert.IsType<MessageRoute>(Assert.Single(runtime.RoutingFor(type).Routes));
            Assert.Equal(new Uri($"rabbitmq://exchange/{IntegrationTransport.Exchange}"), route.Uri);
        });
    }

    [Fact]
    public async Task Without_a_broker_every_integration_event_type_is_known_by_its_wire_name()
    {
        // What the inbox recovery of a crashed node's messages reads them back by (Wolverine's HandlerPipeline): an unknown
        // name is "no handler", which marks the message handled without journaling it.
        await using var api = new LedgerApiFactory(database.ConnectionString);
        _ = api.CreateClient();
        var runtime = api.Services.GetRequiredService<IWolverineRuntime>();

        Assert.NotEmpty(IntegrationTransport.MessageTypes);
        Assert.All(IntegrationTransport.MessageTypes.Append(typeof(JournalBatch)), type =>
        {
            Assert.True(Assert.IsType<WolverineRuntime>(runtime).Handlers.TryFindMessageType(type.ToMessageTypeName(), out var found), type.ToMessageTypeName());
            Assert.Equal(type, found);
        });
    }

    [Theory]
    [InlineData("amqp://user:secret@rabbit.internal:5672/ledger", true)]
    [InlineData("amqps://rabbit.internal/", true)]
    [InlineData("  ", false)]
    [InlineData(null, false)]
    public void The_broker_setting_is_an_amqp_uri_or_unset(string? value, bool broker)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [IntegrationTransport.RabbitMqSetting] = value }).Build();

        Assert.Equal(broker, IntegrationTransport.BrokerUri(configuration) is not null);
    }

    [Theory]
    [InlineData("http://rabbit.internal/")]
    [InlineData("rabbit.internal:5672")]
    public void Anything_else_in_the_broker_setting_stops_the_service_with_a_reason(string value)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [IntegrationTransport.RabbitMqSetting] = value }).Build();

        var error = Assert.Throws<InvalidOperationException>(() => IntegrationTransport.BrokerUri(configuration));
        Assert.Contains("amqp://", error.Message, StringComparison.Ordinal);
    }
}
