using System.Collections.Frozen;

namespace Ledger.Production.Geography;

/// <summary>
/// The market region of a destination country, for reporting ("units and GWh to Europe per quarter").
/// </summary>
/// <remarks>
/// <para>
/// Rule (docs/domain.md, "Market regions"): a country goes to the region of its UN M49 geographic sub-region, with these
/// exceptions, each for the reason given:
/// </para>
/// <list type="bullet">
/// <item>China is CN, HK and MO: the customs and grid markets served from Shanghai as a home market. TW is a separate
/// market (its own grid operator and import rules) and is in Asia Pacific. This is a market grouping, not a statement
/// about sovereignty.</item>
/// <item>Australia is M49's "Australia and New Zealand" (AU, NZ and Australia's inhabited external territories CX, CC,
/// NF): public reporting names Australia as an export market and New Zealand is served from it.</item>
/// <item>North America is M49's "Northern America" (US, CA, BM, GL, PM) plus MX, which the issue names as home
/// market; US territories stay with their geography (PR and VI in Latin America, GU, AS and MP in Asia Pacific).</item>
/// <item>CY (an EU member), TR, GE, AM and AZ, which M49 puts in Western Asia, are in Europe; IR, which M49 puts in
/// Southern Asia, is in the Middle East. The Middle East is the rest of Western Asia.</item>
/// <item>Places with no grid to connect to, AQ, BV, GS, HM, IO, TF and UM, are Other; so is any code this table
/// does not know.</item>
/// </list>
/// </remarks>
public static class MarketRegions
{
    public const string Europe = "Europe";
    public const string Australia = "Australia";
    public const string NorthAmerica = "North America";
    public const string China = "China";
    public const string AsiaPacific = "Asia Pacific";
    public const string MiddleEast = "Middle East";
    public const string LatinAmerica = "Latin America";
    public const string Africa = "Africa";
    public const string Other = "Other";

    // One line per M49 sub-region (or exception) so that a reviewer can check it against the published M49 table.
    private static readonly (string Region, string Countries)[] Table =
    [
        (Europe, "AX DK EE FI FO GB GG IE IM IS JE LT LV NO SE SJ"), // Northern Europe
        (Europe, "AT BE CH DE FR LI LU MC NL"), // Western Europe
        (Europe, "AD AL BA ES GI GR HR IT ME MK MT PT RS SI SM VA"), // Southern Europe
        (Europe, "BG BY CZ HU MD PL RO RU SK UA"), // Eastern Europe
        (Europe, "AM AZ CY GE TR"), // Western Asia, by exception
        (MiddleEast, "AE BH IL IQ JO KW LB OM PS QA SA SY YE"), // Western Asia
        (MiddleEast, "IR"), // Southern Asia, by exception
        (NorthAmerica, "BM CA GL PM US"), // Northern America
        (NorthAmerica, "MX"), // Central America, by exception
        (LatinAmerica, "AG AI AW BB BL BQ BS CU CW DM DO GD GP HT JM KN KY LC MF MQ MS PR SX TC TT VC VG VI"), // Caribbean
        (LatinAmerica, "BZ CR GT HN NI PA SV"), // Central America
        (LatinAmerica, "AR BO BR CL CO EC FK GF GY PE PY SR UY VE"), // South America
        (China, "CN HK MO"), // Eastern Asia, by exception
        (Australia, "AU CC CX NF NZ"), // Australia and New Zealand
        (AsiaPacific, "JP KP KR MN TW"), // Eastern Asia
        (AsiaPacific, "BN ID KH LA MM MY PH SG TH TL VN"), // South-eastern Asia
        (AsiaPacific, "AF BD BT IN LK MV NP PK"), // Southern Asia
        (AsiaPacific, "KG KZ TJ TM UZ"), // Central Asia
        (AsiaPacific, "FJ NC PG SB VU"), // Melanesia
        (AsiaPacific, "FM GU KI MH MP NR PW"), // Micronesia
        (AsiaPacific, "AS CK NU PF PN TK TO TV WF WS"), // Polynesia
        (Africa, "DZ EG EH LY MA SD TN"), // Northern Africa
        (Africa, "BI DJ ER ET KE KM MG MU MW MZ RE RW SC SO SS TZ UG YT ZM ZW"), // Eastern Africa
        (Africa, "AO CD CF CG CM GA GQ ST TD"), // Middle Africa
        (Africa, "BW LS NA SZ ZA"), // Southern Africa
        (Africa, "BF BJ CI CV GH GM GN GW LR ML MR NE NG SH SL SN TG"), // Western Africa
        (Other, "AQ BV GS HM IO TF UM"), // no grid market
    ];

    /// <summary>Every region name, in reporting order.</summary>
    public static IReadOnlyList<string> All { get; } =
        [Europe, Australia, NorthAmerica, China, AsiaPacific, MiddleEast, LatinAmerica, Africa, Other];

    /// <summary>The region of every assigned country code.</summary>
    public static IReadOnlyDictionary<string, string> ByCountry { get; } = Table
        .SelectMany(row => row.Countries.Split(' ').Select(country => (Country: country, row.Region)))
        .ToFrozenDictionary(x => x.Country, x => x.Region, StringComparer.Ordinal);

    /// <summary>
    /// The region of an upper-case ISO 3166-1 alpha-2 code (as <see cref="Units.Destination.Country"/> holds it);
    /// <see cref="Other"/> for a code the table does not know.
    /// </summary>
    public static string Of(string countryCode)
    {
        ArgumentNullException.ThrowIfNull(countryCode);
        return ByCountry.TryGetValue(countryCode, out var region) ? region : Other;
    }

    /// <summary>The countries of a region, in alphabetical order.</summary>
    public static IReadOnlyList<string> CountriesOf(string region) =>
        [.. ByCountry.Where(x => x.Value == region).Select(x => x.Key).Order(StringComparer.Ordinal)];
}
