using Ledger.Api.Features.Integration.Units;
using Ledger.EventStore;
using Destination = Ledger.Production.Units.Destination;
using IUnitEvent = Ledger.Production.Units.IUnitEvent;
using ShipmentCancelled = Ledger.Production.Units.ShipmentCancelled;
using TestOutcome = Ledger.Production.Units.TestOutcome;
using UnitEvents = Ledger.Production.Units.UnitEvents;
using Domain = Ledger.Production.Units;

namespace Ledger.Api.Tests.Integration;

/// <summary>What each recorded unit event announces: a pure function of the unit's stream, no database.</summary>
public sealed class UnitNotificationMappingTests
{
    private static readonly DateTimeOffset Day = new(2025, 3, 3, 0, 0, 0, TimeSpan.Zero);
    private const string Serial = "SHA-2025-000042";

    private static List<RecordedEvent> Stream(params IUnitEvent[] events) =>
    [
        .. events.Select((e, i) => new RecordedEvent(
            position: 100 + (i * 7), eventId: Guid.CreateVersion7(), streamId: Serial, streamVersion: i + 1, type: UnitEvents.Of(e).StoredName,
            data: UnitEvents.Serialize(e), metadataJson: "{}", occurredAt: Day.AddDays(i), recordedAt: Day.AddDays(i).AddSeconds(3), hash: [])),
    ];

    private static readonly Domain.UnitBuilt Built = new("shanghai", "L2", "Megapack 2 XL", 3916m);
    private static readonly Domain.UnitTested Passed = new("EOL-1", TestOutcome.Passed, 3920m, 0.93m, null);
    private static readonly Domain.UnitShipped ToNorway = new(new Destination("no", "Skagerrak Storage"), "DSV", "SHP-1");

    [Fact]
    public void A_shipment_announces_the_unit_its_destination_with_region_and_the_nameplate_energy()
    {
        var stream = Stream(Built, Passed, ToNorway);

        var message = Assert.IsType<UnitShipped>(UnitNotifications.Map(stream[2], stream));

        Assert.Equal(new UnitShipped(stream[2].EventId, Serial, "shanghai", new UnitDestination("NO", "Europe", "Skagerrak Storage"), 3916m,
            "DSV", "SHP-1", Day.AddDays(2), Day.AddDays(2).AddSeconds(3), 3, 114), message);
    }

    [Fact]
    public void Delivery_and_commissioning_carry_the_shipment_they_came_with_and_their_own_site()
    {
        var stream = Stream(Built, Passed, ToNorway, new Domain.UnitDelivered("Skagerrak Storage"), new Domain.UnitCommissioned("Skagerrak Storage"));

        var delivered = Assert.IsType<UnitDelivered>(UnitNotifications.Map(stream[3], stream));
        var commissioned = Assert.IsType<UnitCommissioned>(UnitNotifications.Map(stream[4], stream));

        Assert.Equal(new UnitDelivered(stream[3].EventId, Serial, "shanghai", new UnitDestination("NO", "Europe", "Skagerrak Storage"), 3916m,
            "SHP-1", Day.AddDays(3), Day.AddDays(3).AddSeconds(3), 4, 121), delivered);
        Assert.Equal(new UnitCommissioned(stream[4].EventId, Serial, "shanghai", new UnitDestination("NO", "Europe", "Skagerrak Storage"), 3916m,
            Day.AddDays(4), Day.AddDays(4).AddSeconds(3), 5, 128), commissioned);
    }

    [Fact]
    public void The_unit_is_taken_as_it_was_at_the_event_not_as_it_is_now()
    {
        // Shipped to Norway, called off, shipped to Chile: the first shipment's notice names Norway even from the whole stream.
        var stream = Stream(Built, Passed, ToNorway, new ShipmentCancelled("SHP-1", "customer"),
            new Domain.UnitShipped(new Destination("CL", "Atacama"), "MSC", "SHP-2"));

        var first = Assert.IsType<UnitShipped>(UnitNotifications.Map(stream[2], stream));
        var second = Assert.IsType<UnitShipped>(UnitNotifications.Map(stream[4], stream));

        Assert.Equal(new UnitDestination("NO", "Europe", "Skagerrak Storage"), first.Destination);
        Assert.Equal(new UnitDestination("CL", "Latin America", "Atacama"), second.Destination);
        Assert.Equal("SHP-2", second.ShipmentId);
    }

    [Fact]
    public void Other_events_announce_nothing()
    {
        var stream = Stream(Built, Passed);

        Assert.Null(UnitNotifications.Map(stream[0], stream));
        Assert.Null(UnitNotifications.Map(stream[1], stream));
    }

    [Fact]
    public void A_shipment_of_a_unit_never_built_is_refused_rather_than_announced_with_made_up_values()
    {
        var stream = Stream(ToNorway);

        Assert.Throws<InvalidOperationException>(() => UnitNotifications.Map(stream[0], stream));
    }

    [Fact]
    public void The_message_id_is_the_event_id()
    {
        var stream = Stream(Built, Passed, ToNorway);

        var message = UnitNotifications.Map(stream[2], stream)!;

        Assert.Equal(stream[2].EventId, message.MessageId);
    }
}
