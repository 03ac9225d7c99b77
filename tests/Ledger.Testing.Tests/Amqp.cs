using System.Text;
using RabbitMQ.Client;

namespace Ledger.Testing.Tests;

/// <summary>What a client of the broker does, with RabbitMQ.Client, one connection per call.</summary>
internal static class Amqp
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Without automatic recovery: these tests stop and kill brokers, and want to see that, not ride it out.</summary>
    public static Task<IConnection> ConnectAsync(Uri uri) =>
        new ConnectionFactory { Uri = uri, AutomaticRecoveryEnabled = false }.CreateConnectionAsync(Ct);

    public static async Task DeclareAsync(Uri uri, string queue, bool durable)
    {
        await using var connection = await ConnectAsync(uri);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: Ct);
        await channel.QueueDeclareAsync(queue, durable, exclusive: false, autoDelete: false, cancellationToken: Ct);
    }

    /// <summary>Publishes to a queue through the default exchange and returns once the broker confirmed it (for a persistent message to a durable queue: once it is on disk).</summary>
    public static async Task PublishConfirmedAsync(Uri uri, string queue, string body, bool persistent)
    {
        await using var connection = await ConnectAsync(uri);
        await using var channel = await connection.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), Ct);
        // Mandatory: a message no queue takes is returned, and the publish fails, rather than vanishing.
        await channel.BasicPublishAsync(
            exchange: "", routingKey: queue, mandatory: true, basicProperties: new BasicProperties { Persistent = persistent },
            body: Encoding.UTF8.GetBytes(body), cancellationToken: Ct);
    }

    /// <summary>Takes the next message off a queue, or null when it is empty.</summary>
    public static async Task<string?> TakeAsync(Uri uri, string queue)
    {
        await using var connection = await ConnectAsync(uri);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: Ct);
        var message = await channel.BasicGetAsync(queue, autoAck: true, Ct);
        return message is null ? null : Encoding.UTF8.GetString(message.Body.Span);
    }

    /// <summary>How many messages a queue holds; fails (NOT_FOUND) when there is no such queue.</summary>
    public static async Task<uint> MessageCountAsync(Uri uri, string queue)
    {
        await using var connection = await ConnectAsync(uri);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: Ct);
        return (await channel.QueueDeclarePassiveAsync(queue, Ct)).MessageCount;
    }
}
