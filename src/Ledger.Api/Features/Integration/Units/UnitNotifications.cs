using System.Text.Json.Serialization;
using Ledger.EventStore;
using Ledger.ReadModels;
using Ledger.Api.ServiceDefaults.Messaging;
using Wolverine.Attributes;
using Domain = Ledger.Production.Units;

namespace Ledger.Api.Features.Integration.Units;

/// <summary>Where a unit went: the destination of its shipment, with the market region the ledger derived for it.</summary>
/// <param name="Country">ISO 3166-1 alpha-2 code.</param>
/// <param name="Region">Market region of the country (docs/domain.md, "Market regions").</param>
/// <param name="Site">The site the unit was shipped to, delivered at or commissioned at.</param>
public sealed record UnitDestination(
    [property: JsonPropertyName("country")] string Country,
    [property: JsonPropertyName("region")] string Region,
    [property: JsonPropertyName("site")] string Site);

/// <summary>
/// A unit left its factory on a shipment (<c>ledger.unit-shipped.v1</c>, docs/integration-events.md). The message id is the
/// recorded event's id.
/// </summary>
[MessageIdentity("ledger.unit-shipped.v1")]
[MessageIdFromBody]
public sealed record UnitShipped(
    [property: JsonPropertyName("eventId")] Guid EventId,
    [property: JsonPropertyName("serial")] string Serial,
    [property: JsonPropertyName("factoryId")] string FactoryId,
    [property: JsonPropertyName("destination")] UnitDestination Destination,
    [property: JsonPropertyName("energyKwh")] decimal EnergyKwh,
    [property: JsonPropertyName("carrier")] string Carrier,
    [property: JsonPropertyName("shipmentId")] string ShipmentId,
    [property: JsonPropertyName("occurredAt")] DateTimeOffset OccurredAt,
    [property: JsonPropertyName("recordedAt")] DateTimeOffset RecordedAt,
    [property: JsonPropertyName("streamVersion")] long StreamVersion,
    [property: JsonPropertyName("position")] long Position) : IIntegrationEvent
{
    Guid IHasMessageId.MessageId => EventId;
}

/// <summary>
/// A unit arrived at the site of its shipment (<c>ledger.unit-delivered.v1</c>). The message id is the recorded event's id.
/// </summary>
[MessageIdentity("ledger.unit-delivered.v1")]
[MessageIdFromBody]
public sealed record UnitDelivered(
    [property: JsonPropertyName("eventId")] Guid EventId,
    [property: JsonPropertyName("serial")] string Serial,
    [property: JsonPropertyName("factoryId")] string FactoryId,
    [property: JsonPropertyName("destination")] UnitDestination Destination,
    [property: JsonPropertyName("energyKwh")] decimal EnergyKwh,
    [property: JsonPropertyName("shipmentId")] string ShipmentId,
    [property: JsonPropertyName("occurredAt")] DateTimeOffset OccurredAt,
    [property: JsonPropertyName("recordedAt")] DateTimeOffset RecordedAt,
    [property: JsonPropertyName("streamVersion")] long StreamVersion,
    [property: JsonPropertyName("position")] long Position) : IIntegrationEvent
{
    Guid IHasMessageId.MessageId => EventId;
}

/// <summary>
/// A unit was connected to the grid at the site it was delivered to (<c>ledger.unit-commissioned.v1</c>). The message id is
/// the recorded event's id.
/// </summary>
[MessageIdentity("ledger.unit-commissioned.v1")]
[MessageIdFromBody]
public sealed record UnitCommissioned(
    [property: JsonPropertyName("eventId")] Guid EventId,
    [property: JsonPropertyName("serial")] string Serial,
    [property: JsonPropertyName("factoryId")] string FactoryId,
    [property: JsonPropertyName("destination")] UnitDestination Destination,
    [property: JsonPropertyName("energyKwh")] decimal EnergyKwh,
    [property: JsonPropertyName("occurredAt")] DateTimeOffset OccurredAt,
    [property: JsonPropertyName("recordedAt")] DateTimeOffset RecordedAt,
    [property: JsonPropertyName("streamVersion")] long StreamVersion,
    [property: JsonPropertyName("position")] long Position) : IIntegrationEvent
{
    Guid IHasMessageId.MessageId => EventId;
}

/// <summary>
/// What a recorded unit event tells downstream systems: a pure function of the unit's stream. The unit's state comes from
/// folding its stream up to the event with the same rules as every other read of a unit, never from an asynchronous read
/// model, which may lag behind the event being announced.
/// </summary>
public static class UnitNotifications
{
    /// <summary>The unit events that are announced.</summary>
    public static IReadOnlyList<Type> AnnouncedEvents { get; } = [typeof(Domain.UnitShipped), typeof(Domain.UnitDelivered), typeof(Domain.UnitCommissioned)];

    /// <summary>
    /// The notification for <paramref name="recorded"/>, an event of <paramref name="stream"/> (the unit's events in
    /// version order, at least up to it); null when the event is not one that is announced.
    /// </summary>
    /// <exception cref="InvalidOperationException">The stream before the event does not describe a built unit with a
    /// shipment: history the rules would have refused. Announcing it with made-up values would be worse than stopping.</exception>
    public static IIntegrationEvent? Map(RecordedEvent recorded, IReadOnlyList<RecordedEvent> stream)
    {
        ArgumentNullException.ThrowIfNull(recorded);
        ArgumentNullException.ThrowIfNull(stream);
        var fact = UnitHistory.ToOccurred(recorded).Event;
        if (fact is not (Domain.UnitShipped or Domain.UnitDelivered or Domain.UnitCommissioned)) return null;

        var upTo = stream.TakeWhile(e => e.StreamVersion <= recorded.StreamVersion).ToList();
        if (upTo.Count == 0 || upTo[^1].EventId != recorded.EventId)
        {
            throw new InvalidOperationException($"Event {recorded.EventId} is not version {recorded.StreamVersion} of the stream of {recorded.StreamId} given.");
        }

        var unit = UnitHistory.Fold(upTo);
        var factoryId = unit.FactoryId ?? throw Unexpected(recorded, "has no build");
        var energyKwh = unit.NameplateKwh ?? throw Unexpected(recorded, "has no nameplate energy");
        var shipment = unit.Shipment ?? throw Unexpected(recorded, "has no shipment");
        return fact switch
        {
            Domain.UnitShipped shipped => new UnitShipped(
                recorded.EventId, recorded.StreamId, factoryId,
                new UnitDestination(shipment.Destination.Country, shipment.Region, shipped.Destination.Site), energyKwh,
                shipped.Carrier, shipped.ShipmentId, recorded.OccurredAt, recorded.RecordedAt, recorded.StreamVersion, recorded.Position),
            Domain.UnitDelivered delivered => new UnitDelivered(
                recorded.EventId, recorded.StreamId, factoryId,
                new UnitDestination(shipment.Destination.Country, shipment.Region, delivered.Site), energyKwh,
                shipment.ShipmentId, recorded.OccurredAt, recorded.RecordedAt, recorded.StreamVersion, recorded.Position),
            Domain.UnitCommissioned commissioned => new UnitCommissioned(
                recorded.EventId, recorded.StreamId, factoryId,
                new UnitDestination(shipment.Destination.Country, shipment.Region, commissioned.Site), energyKwh,
                recorded.OccurredAt, recorded.RecordedAt, recorded.StreamVersion, recorded.Position),
            _ => null,
        };
    }

    private static InvalidOperationException Unexpected(RecordedEvent recorded, string what) =>
        new($"Unit {recorded.StreamId} {what} before its event {recorded.EventId} ({recorded.Type}, version {recorded.StreamVersion}).");
}
