namespace Ledger.Testing;

/// <summary>
/// A RabbitMQ broker for a test class (<c>IClassFixture&lt;RabbitMqBrokerFixture&gt;</c>) or for a whole test assembly
/// (<c>[assembly: AssemblyFixture(typeof(RabbitMqBrokerFixture))]</c>): started before the first test that needs it and
/// removed after the last, whether tests passed or not. Tests that stop or kill the broker should have one of their own
/// (a class fixture, or <see cref="RabbitMqBroker.StartNewAsync(CancellationToken)"/>), so that the classes running beside them keep theirs.
/// </summary>
public sealed class RabbitMqBrokerFixture : IAsyncLifetime
{
    RabbitMqBroker? broker;

    /// <summary>The broker.</summary>
    public RabbitMqBroker Broker => broker ?? throw new InvalidOperationException("The RabbitMQ broker fixture is not initialized.");

    /// <summary>Starts the broker, so that a broker that cannot start fails the class once, before any test.</summary>
    /// <returns>A task that completes once the broker accepts AMQP connections.</returns>
    public async ValueTask InitializeAsync() => broker = await RabbitMqBroker.StartNewAsync(TestContext.Current.CancellationToken);

    /// <summary>Removes the broker's container.</summary>
    /// <returns>A task that completes once the broker is gone.</returns>
    public async ValueTask DisposeAsync()
    {
        if (broker is not null)
        {
            await broker.DisposeAsync();
        }
    }
}
