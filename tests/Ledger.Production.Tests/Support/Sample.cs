using Ledger.Production.Units;

namespace Ledger.Production.Tests.Support;

/// <summary>One valid event of each kind, all describing the same unit's life (built in Shanghai, shipped to Australia).</summary>
internal static class Sample
{
    public const string Site = "Collie Battery, Western Australia";
    public const string ShipmentId = "SHP-2025-0042";

    public static UnitBuilt Built { get; } = new("shanghai", "MP-L1", "Megapack 2 XL", 3916m);
    public static UnitTested Passed { get; } = new("EOL-03", TestOutcome.Passed, 3890.4m, 0.92m);
    public static UnitTested Failed { get; } = new("EOL-03", TestOutcome.Failed, 3512.0m, 0.86m, "E-THERM-042");
    public static UnitReworked Reworked { get; } = new("Replaced coolant pump", "RW-01");
    public static UnitShipped Shipped { get; } = new(new Destination("AU", Site), "COSCO Shipping", ShipmentId);
    public static ShipmentCancelled Cancelled { get; } = new(ShipmentId, "Vessel withdrawn from the route");
    public static UnitDelivered Delivered { get; } = new(Site);
    public static UnitCommissioned Commissioned { get; } = new(Site);
    public static UnitScrapped Scrapped { get; } = new("Enclosure crushed during loading");

    /// <summary>Each kind of event by its API name, for theories over every event type.</summary>
    public static IReadOnlyDictionary<string, IUnitEvent> ByApiName { get; } = new Dictionary<string, IUnitEvent>
    {
        ["UnitBuilt"] = Built,
        ["UnitTested"] = Passed,
        ["UnitReworked"] = Reworked,
        ["UnitShipped"] = Shipped,
        ["ShipmentCancelled"] = Cancelled,
        ["UnitDelivered"] = Delivered,
        ["UnitCommissioned"] = Commissioned,
        ["UnitScrapped"] = Scrapped,
    };

    /// <summary>Histories that leave a unit in each stage, by stage name.</summary>
    public static IReadOnlyDictionary<UnitStage, IUnitEvent[]> HistoryFor { get; } = new Dictionary<UnitStage, IUnitEvent[]>
    {
        [UnitStage.NotBuilt] = [],
        [UnitStage.Built] = [Built],
        [UnitStage.Passed] = [Built, Passed],
        [UnitStage.Failed] = [Built, Failed],
        [UnitStage.Reworked] = [Built, Failed, Reworked],
        [UnitStage.InTransit] = [Built, Passed, Shipped],
        [UnitStage.Delivered] = [Built, Passed, Shipped, Delivered],
        [UnitStage.Commissioned] = [Built, Passed, Shipped, Delivered, Commissioned],
        [UnitStage.Scrapped] = [Built, Scrapped],
    };
}
