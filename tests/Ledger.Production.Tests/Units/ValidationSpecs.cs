using Ledger.Production.Units;
using Ledger.Production.Units.Validation;
using static Ledger.Production.Tests.Support.Sample;

namespace Ledger.Production.Tests.Units;

public sealed class ValidationSpecs
{
    private static readonly UnitEventValidator Validator = new();

    private static void Valid(IUnitEvent @event)
    {
        var result = Validator.Validate(@event);
        Assert.True(result.IsValid, string.Join("; ", result.Errors.Select(e => $"{e.PropertyName}: {e.ErrorMessage}")));
    }

    /// <summary>Asserts that exactly one field is reported, named as in the JSON, with a message that names it too.</summary>
    private static void InvalidAt(IUnitEvent @event, string field)
    {
        var errors = Validator.Validate(@event).Errors;

        var error = Assert.Single(errors);
        Assert.Equal(field, error.PropertyName);
        Assert.Contains($"'{field.Split('.')[^1]}'", error.ErrorMessage, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("UnitBuilt")]
    [InlineData("UnitTested")]
    [InlineData("UnitReworked")]
    [InlineData("UnitShipped")]
    [InlineData("ShipmentCancelled")]
    [InlineData("UnitDelivered")]
    [InlineData("UnitCommissioned")]
    [InlineData("UnitScrapped")]
    public void The_sample_of_each_event_is_valid(string apiName) => Valid(ByApiName[apiName]);

    [Fact]
    public void A_failed_test_with_its_failure_code_is_valid() => Valid(Failed);

    [Fact]
    public void A_rework_without_a_station_is_valid() => Valid(Reworked with { Station = null });

    // UnitBuilt

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("Lathrop")]
    [InlineData("giga berlin")]
    [InlineData("-lathrop")]
    [InlineData("lathrop-")]
    [InlineData("la--throp")]
    [InlineData("abcdefghijklmnopqrstuvwxyz1234567")] // 33 characters
    public void A_build_with_a_malformed_factory_id_is_invalid(string? factoryId) =>
        InvalidAt(Built with { FactoryId = factoryId! }, "factoryId");

    [Theory]
    [InlineData("lathrop")]
    [InlineData("giga-texas-2")]
    public void A_build_with_a_well_formed_factory_id_is_valid(string factoryId) =>
        Valid(Built with { FactoryId = factoryId });

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("L 1")]
    [InlineData("-L1")]
    [InlineData("L1\n")]
    [InlineData("L1#")]
    public void A_build_with_a_malformed_line_is_invalid(string? line) =>
        InvalidAt(Built with { Line = line! }, "line");

    [Fact]
    public void A_line_of_65_characters_is_invalid() => InvalidAt(Built with { Line = new string('L', 65) }, "line");

    [Theory]
    [InlineData("L1")]
    [InlineData("line_2.b/3")]
    [InlineData("L")]
    public void A_build_with_a_well_formed_line_is_valid(string line) => Valid(Built with { Line = line });

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData(" Megapack 2")]
    [InlineData("Megapack 2 ")]
    [InlineData("Megapack\t2")]
    public void A_build_with_a_blank_or_malformed_model_is_invalid(string? model) =>
        InvalidAt(Built with { Model = model! }, "model");

    [Fact]
    public void A_model_of_101_characters_is_invalid() => InvalidAt(Built with { Model = new string('M', 101) }, "model");

    [Fact]
    public void A_model_of_100_characters_is_valid() => Valid(Built with { Model = new string('M', 100) });

    [Theory]
    [InlineData("0")]
    [InlineData("0.999")]
    [InlineData("10000.001")]
    [InlineData("-3900")]
    public void A_build_with_a_nameplate_outside_1_to_10000_kWh_is_invalid(string kwh) =>
        InvalidAt(Built with { NameplateKwh = decimal.Parse(kwh, System.Globalization.CultureInfo.InvariantCulture) },
            "nameplateKwh");

    [Theory]
    [InlineData("1")]
    [InlineData("3916")]
    [InlineData("10000")]
    public void A_build_with_a_nameplate_within_1_to_10000_kWh_is_valid(string kwh) =>
        Valid(Built with { NameplateKwh = decimal.Parse(kwh, System.Globalization.CultureInfo.InvariantCulture) });

    // UnitTested

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("EOL 3")]
    public void A_test_with_a_malformed_station_is_invalid(string? station) =>
        InvalidAt(Passed with { Station = station! }, "station");

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    public void A_test_with_a_result_other_than_passed_or_failed_is_invalid(int result) =>
        InvalidAt(Passed with { Result = (TestOutcome)result }, "result");

    [Theory]
    [InlineData("-0.001")]
    [InlineData("10000.001")]
    public void A_test_measuring_outside_0_to_10000_kWh_is_invalid(string kwh) =>
        InvalidAt(Passed with { MeasuredKwh = decimal.Parse(kwh, System.Globalization.CultureInfo.InvariantCulture) },
            "measuredKwh");

    [Theory]
    [InlineData("0")]
    [InlineData("10000")]
    public void A_test_measuring_within_0_to_10000_kWh_is_valid(string kwh) =>
        Valid(Failed with { MeasuredKwh = decimal.Parse(kwh, System.Globalization.CultureInfo.InvariantCulture) });

    [Theory]
    [InlineData("-0.01")]
    [InlineData("1.01")]
    [InlineData("92")]
    public void A_test_with_a_round_trip_efficiency_outside_0_to_1_is_invalid(string efficiency) =>
        InvalidAt(
            Passed with
            {
                RoundTripEfficiency = decimal.Parse(efficiency, System.Globalization.CultureInfo.InvariantCulture),
            },
            "roundTripEfficiency");

    [Theory]
    [InlineData("0")]
    [InlineData("1")]
    public void A_test_with_a_round_trip_efficiency_within_0_to_1_is_valid(string efficiency) =>
        Valid(Passed with
        {
            RoundTripEfficiency = decimal.Parse(efficiency, System.Globalization.CultureInfo.InvariantCulture),
        });

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("E THERM")]
    public void A_failed_test_without_a_well_formed_failure_code_is_invalid(string? failureCode) =>
        InvalidAt(Failed with { FailureCode = failureCode }, "failureCode");

    [Theory]
    [InlineData("E-THERM-042")]
    [InlineData("")]
    public void A_passed_test_with_any_failure_code_is_invalid(string failureCode) =>
        InvalidAt(Passed with { FailureCode = failureCode }, "failureCode");

    // UnitReworked

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("Replaced pump\r\nand fan")]
    public void A_rework_without_a_reason_in_one_line_is_invalid(string? reason) =>
        InvalidAt(Reworked with { Reason = reason! }, "reason");

    [Fact]
    public void A_reason_of_501_characters_is_invalid() =>
        InvalidAt(Reworked with { Reason = new string('r', 501) }, "reason");

    [Fact]
    public void A_reason_of_500_characters_is_valid() => Valid(Reworked with { Reason = new string('r', 500) });

    [Theory]
    [InlineData("")]
    [InlineData("RW 1")]
    public void A_rework_with_a_malformed_station_is_invalid(string station) =>
        InvalidAt(Reworked with { Station = station }, "station");

    // UnitShipped and its destination

    [Fact]
    public void A_shipment_without_a_destination_is_invalid() =>
        InvalidAt(Shipped with { Destination = null! }, "destination");

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("XX")]
    [InlineData("UK")] // reserved for the United Kingdom, whose assigned code is GB
    [InlineData("EU")] // exceptionally reserved, not a country
    [InlineData("XK")] // user-assigned (Kosovo), not assigned by ISO
    [InlineData("AUS")] // alpha-3
    [InlineData("ıt")]
    [InlineData("ſe")]
    public void A_shipment_to_a_country_that_is_not_an_assigned_iso_code_is_invalid(string? country) =>
        InvalidAt(Shipped with { Destination = new Destination(country!, Site) }, "destination.country");

    [Theory]
    [InlineData("au")]
    [InlineData("GB")]
    [InlineData(" nz ")]
    public void A_shipment_to_an_assigned_country_code_in_any_case_is_valid(string country) =>
        Valid(Shipped with { Destination = new Destination(country, Site) });

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData(" Collie")]
    [InlineData("Collie\n")]
    public void A_shipment_to_a_blank_or_malformed_site_is_invalid(string? site) =>
        InvalidAt(Shipped with { Destination = new Destination("AU", site!) }, "destination.site");

    [Fact]
    public void A_destination_site_of_101_characters_is_invalid() =>
        InvalidAt(Shipped with { Destination = new Destination("AU", new string('s', 101)) }, "destination.site");

    [Fact]
    public void A_shipment_with_both_destination_fields_wrong_reports_both()
    {
        var errors = Validator.Validate(Shipped with { Destination = new Destination("XX", "") }).Errors;

        Assert.Equal(["destination.country", "destination.site"], errors.Select(e => e.PropertyName).Order());
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("COSCO\tShipping")]
    public void A_shipment_with_a_blank_or_malformed_carrier_is_invalid(string? carrier) =>
        InvalidAt(Shipped with { Carrier = carrier! }, "carrier");

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("SHP 0042")]
    [InlineData("SHP-0042-")]
    public void A_shipment_with_a_malformed_shipment_id_is_invalid(string? shipmentId) =>
        InvalidAt(Shipped with { ShipmentId = shipmentId! }, "shipmentId");

    [Fact]
    public void A_shipment_id_of_65_characters_is_invalid() =>
        InvalidAt(Shipped with { ShipmentId = new string('S', 65) }, "shipmentId");

    // The other events

    [Theory]
    [InlineData(null)]
    [InlineData("SHP/0042 ")]
    public void A_cancellation_with_a_malformed_shipment_id_is_invalid(string? shipmentId) =>
        InvalidAt(Cancelled with { ShipmentId = shipmentId! }, "shipmentId");

    [Fact]
    public void A_cancellation_without_a_reason_is_invalid() => InvalidAt(Cancelled with { Reason = "" }, "reason");

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("Collie ")]
    public void A_delivery_without_a_well_formed_site_is_invalid(string? site) =>
        InvalidAt(new UnitDelivered(site!), "site");

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public void A_commissioning_without_a_site_is_invalid(string? site) =>
        InvalidAt(new UnitCommissioned(site!), "site");

    [Theory]
    [InlineData(null)]
    [InlineData(" ")]
    public void A_scrapping_without_a_reason_is_invalid(string? reason) => InvalidAt(new UnitScrapped(reason!), "reason");

    // Reporting

    [Fact]
    public void A_payload_with_several_bad_fields_reports_each_once_by_its_json_name()
    {
        var errors = Validator.Validate(new UnitBuilt(null!, "", "MP2", 0m)).Errors;

        Assert.Equal(["factoryId", "line", "nameplateKwh"], errors.Select(e => e.PropertyName).Order());
    }

    [Fact]
    public void The_validator_of_an_event_type_reports_the_same_names_on_its_own()
    {
        var errors = new UnitShippedValidator().Validate(Shipped with { Destination = new Destination("XX", Site) }).Errors;

        Assert.Equal("destination.country", Assert.Single(errors).PropertyName);
    }
}
