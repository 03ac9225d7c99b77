using System.Collections.Frozen;
using System.Diagnostics.CodeAnalysis;

namespace Ledger.Production.Geography;

/// <summary>The officially assigned ISO 3166-1 alpha-2 country codes.</summary>
/// <remarks>
/// All 249 codes assigned as of ISO/TC 46 N1108 (2023-04-05), the edition the IANA time zone database's iso3166.tab
/// follows. User-assigned codes (XK for Kosovo, AA, QM-QZ, XA-XZ, ZZ), exceptionally reserved codes (EU, UK, ...) and
/// withdrawn codes (AN, CS, ...) are not country codes of a destination and are refused. When ISO assigns a new code,
/// add it here and to a region in <see cref="MarketRegions"/>; a test fails until both agree.
/// </remarks>
public static class Countries
{
    private static readonly string[] AssignedByInitial =
    [
        "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ",
        "BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ",
        "CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ",
        "DE DJ DK DM DO DZ",
        "EC EE EG EH ER ES ET",
        "FI FJ FK FM FO FR",
        "GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY",
        "HK HM HN HR HT HU",
        "ID IE IL IM IN IO IQ IR IS IT",
        "JE JM JO JP",
        "KE KG KH KI KM KN KP KR KW KY KZ",
        "LA LB LC LI LK LR LS LT LU LV LY",
        "MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ",
        "NA NC NE NF NG NI NL NO NP NR NU NZ",
        "OM",
        "PA PE PF PG PH PK PL PM PN PR PS PT PW PY",
        "QA",
        "RE RO RS RU RW",
        "SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ",
        "TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ",
        "UA UG UM US UY UZ",
        "VA VC VE VG VI VN VU",
        "WF WS",
        "YE YT",
        "ZA ZM ZW",
    ];

    /// <summary>Every assigned code, upper-case, in alphabetical order.</summary>
    public static IReadOnlyList<string> Assigned { get; } =
        AssignedByInitial.SelectMany(line => line.Split(' ')).ToArray();

    private static readonly FrozenSet<string> AssignedSet = Assigned.ToFrozenSet(StringComparer.Ordinal);

    /// <summary>
    /// Whether <paramref name="code"/> is an assigned code. Exact and upper-case: callers normalise first (as
    /// <see cref="Units.Destination"/> does), so that what is checked is what is stored.
    /// </summary>
    public static bool IsAssigned([NotNullWhen(true)] string? code) => code is not null && AssignedSet.Contains(code);
}
