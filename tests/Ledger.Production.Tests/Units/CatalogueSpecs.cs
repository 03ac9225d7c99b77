using System.Text.Json;
using Ledger.Production.Units;
using static Ledger.Production.Tests.Support.Sample;

namespace Ledger.Production.Tests.Units;

public sealed class CatalogueSpecs
{
    // The stored names are history's contract: if this table has to change, existing streams can no longer be read.
    [Theory]
    [InlineData("UnitBuilt", "unit-built.v1", typeof(UnitBuilt))]
    [InlineData("UnitTested", "unit-tested.v1", typeof(UnitTested))]
    [InlineData("UnitReworked", "unit-reworked.v1", typeof(UnitReworked))]
    [InlineData("UnitShipped", "unit-shipped.v1", typeof(UnitShipped))]
    [InlineData("ShipmentCancelled", "shipment-cancelled.v1", typeof(ShipmentCancelled))]
    [InlineData("UnitDelivered", "unit-delivered.v1", typeof(UnitDelivered))]
    [InlineData("UnitCommissioned", "unit-commissioned.v1", typeof(UnitCommissioned))]
    [InlineData("UnitScrapped", "unit-scrapped.v1", typeof(UnitScrapped))]
    public void Each_event_is_found_by_its_api_name_its_stored_name_and_its_type(
        string apiName, string storedName, Type clrType)
    {
        var expected = new UnitEventType(apiName, storedName, clrType);

        Assert.True(UnitEvents.TryFindByApiName(apiName, out var byApi));
        Assert.True(UnitEvents.TryFindByStoredName(storedName, out var byStored));
        Assert.Equal(expected, byApi);
        Assert.Equal(expected, byStored);
        Assert.Equal(expected, UnitEvents.Of(clrType));
        Assert.Equal(expected, UnitEvents.Of(ByApiName[apiName]));
    }

    [Fact]
    public void Every_unit_event_type_in_the_domain_is_catalogued()
    {
        var eventTypes = typeof(IUnitEvent).Assembly.GetTypes()
            .Where(t => t.IsClass && !t.IsAbstract && typeof(IUnitEvent).IsAssignableFrom(t));

        Assert.Equal(
            eventTypes.Select(t => t.Name).Order(),
            UnitEvents.All.Select(t => t.ClrType.Name).Order());
    }

    [Theory]
    [InlineData("unitBuilt")]
    [InlineData("unit-built.v1")]
    [InlineData("UnitCreated")]
    [InlineData("")]
    [InlineData(null)]
    public void Api_names_are_matched_exactly(string? apiName) =>
        Assert.False(UnitEvents.TryFindByApiName(apiName, out _));

    [Theory]
    [InlineData("UnitBuilt")]
    [InlineData("unit-built")]
    [InlineData("unit-built.v2")]
    [InlineData(null)]
    public void Stored_names_are_matched_exactly(string? storedName) =>
        Assert.False(UnitEvents.TryFindByStoredName(storedName, out _));

    [Fact]
    public void Asking_for_a_type_that_is_not_a_unit_event_throws() =>
        Assert.Throws<ArgumentException>(() => UnitEvents.Of(typeof(string)));

    // The JSON of each event's data exactly as docs/domain.md shows it.
    public static TheoryData<string, string> DocumentedJson { get; } = new()
    {
        { "UnitBuilt", """{"factoryId":"shanghai","line":"MP-L1","model":"Megapack 2 XL","nameplateKwh":3916}""" },
        { "UnitTested", """{"station":"EOL-03","result":"passed","measuredKwh":3890.4,"roundTripEfficiency":0.92}""" },
        { "UnitReworked", """{"reason":"Replaced coolant pump","station":"RW-01"}""" },
        {
            "UnitShipped",
            """{"destination":{"country":"AU","site":"Collie Battery, Western Australia"},"carrier":"COSCO Shipping","shipmentId":"SHP-2025-0042"}"""
        },
        { "ShipmentCancelled", """{"shipmentId":"SHP-2025-0042","reason":"Vessel withdrawn from the route"}""" },
        { "UnitDelivered", """{"site":"Collie Battery, Western Australia"}""" },
        { "UnitCommissioned", """{"site":"Collie Battery, Western Australia"}""" },
        { "UnitScrapped", """{"reason":"Enclosure crushed during loading"}""" },
    };

    [Theory]
    [MemberData(nameof(DocumentedJson))]
    public void Each_event_serializes_to_its_documented_camel_case_json(string apiName, string json) =>
        Assert.Equal(json, UnitEvents.Serialize(ByApiName[apiName]));

    [Theory]
    [MemberData(nameof(DocumentedJson))]
    public void Each_event_deserializes_from_its_documented_json(string apiName, string json)
    {
        Assert.True(UnitEvents.TryFindByApiName(apiName, out var type));

        Assert.Equal(ByApiName[apiName], type.Deserialize(json));
    }

    [Fact]
    public void A_failed_test_carries_its_failure_code_in_json() =>
        Assert.Equal(
            """{"station":"EOL-03","result":"failed","measuredKwh":3512.0,"roundTripEfficiency":0.86,"failureCode":"E-THERM-042"}""",
            UnitEvents.Serialize(Failed));

    [Fact]
    public void A_rework_without_a_station_leaves_the_station_out_of_the_json() =>
        Assert.Equal("""{"reason":"Replaced coolant pump"}""", UnitEvents.Serialize(Reworked with { Station = null }));

    [Fact]
    public void Serializing_through_the_interface_type_writes_the_whole_event()
    {
        IUnitEvent @event = Built;

        Assert.Contains("\"factoryId\":\"shanghai\"", UnitEvents.Serialize(@event), StringComparison.Ordinal);
    }

    [Fact]
    public void A_destination_country_is_held_in_upper_case_however_it_was_written()
    {
        var fromJson = (UnitShipped)UnitEvents.UnitShipped.Deserialize(
            """{"destination":{"country":" au","site":"Collie"},"carrier":"COSCO","shipmentId":"S-1"}""");
        var fromCode = new Destination("nz", "Ruakākā");
        var fromWith = fromCode with { Country = "de" };

        Assert.Equal("AU", fromJson.Destination.Country);
        Assert.Equal("NZ", fromCode.Country);
        Assert.Equal("DE", fromWith.Country);
    }

    [Theory]
    [InlineData("ſe", "ſE")] // long s: ICU upper-cases it to S, which would make Sweden of a typo
    [InlineData("ıt", "ıT")] // dotless i
    [InlineData("ｄe", "ｄE")] // full-width d, which every globalization mode upper-cases
    public void Only_ascii_letters_of_a_country_are_upper_cased(string country, string expected) =>
        Assert.Equal(expected, new Destination(country, "Rome").Country);

    [Theory]
    [InlineData("""{"factoryId":"shanghai","line":"L1","model":"MP2"}""")] // nameplateKwh missing
    [InlineData("""{"factoryId":"shanghai","line":"L1","model":"MP2","nameplateKwh":"3916"}""")] // a string
    [InlineData("""{"factoryId":"shanghai","line":"L1","model":"MP2","nameplateKwh":3916,"nameplate":1}""")] // unknown field
    [InlineData("""[1,2]""")]
    [InlineData("""null""")]
    public void Data_that_is_not_the_shape_of_a_unit_built_event_cannot_be_read(string json) =>
        Assert.ThrowsAny<JsonException>(() => UnitEvents.UnitBuilt.Deserialize(json));

    [Theory]
    [InlineData("""{"station":"S1","result":"maybe","measuredKwh":1,"roundTripEfficiency":0.9}""")]
    [InlineData("""{"station":"S1","measuredKwh":1,"roundTripEfficiency":0.9}""")]
    [InlineData("""{"station":"S1","result":"passed","measuredKwh":1}""")]
    [InlineData("""{"station":"S1","result":"passed","measuredKwh":1,"roundTripEfficiency":0.9,"failurecode":"E1"}""")]
    public void Data_that_is_not_the_shape_of_a_unit_tested_event_cannot_be_read(string json) =>
        Assert.ThrowsAny<JsonException>(() => UnitEvents.UnitTested.Deserialize(json));

    [Fact]
    public void A_missing_string_reads_as_null_for_the_validator_to_report()
    {
        var @event = (UnitDelivered)UnitEvents.UnitDelivered.Deserialize("{}");

        Assert.Null(@event.Site);
    }
}
