using Ledger.Api.Access;
using Ledger.Api.Tests.Support;
using Ledger.Production.Units;

namespace Ledger.Client.Tests.Support;

/// <summary>What line systems record, as typed events, and clients for them.</summary>
internal static class Lines
{
    /// <summary>A working day at Shanghai.</summary>
    public static readonly DateTimeOffset Day = new(2025, 3, 10, 9, 0, 0, TimeSpan.FromHours(8));

    public static readonly Destination Collie = new("AU", "Collie Battery, Western Australia");

    public static string NewSerial(string prefix = "SHA") => $"{prefix}-{Guid.NewGuid():N}"[..18].ToUpperInvariant();

    public static EventToRecord Built(DateTimeOffset? at = null, string factory = "shanghai", Guid? id = null) =>
        new(new UnitBuilt(factory, "MP-L1", "Megapack 2 XL", 3916m), at ?? Day, id);

    public static EventToRecord Tested(bool passed = true, DateTimeOffset? at = null) =>
        new(passed ? new UnitTested("EOL-01", TestOutcome.Passed, 3921.5m, 0.92m) : new UnitTested("EOL-01", TestOutcome.Failed, 3700m, 0.91m, "E-CELL-IMB"), at ?? Day.AddHours(2));

    public static EventToRecord Shipped(Destination? to = null, DateTimeOffset? at = null, string shipment = "SHP-SHA-2025-00001") =>
        new(new UnitShipped(to ?? Collie, "COSCO Shipping", shipment), at ?? Day.AddDays(1));

    public static EventToRecord Delivered(DateTimeOffset? at = null, string site = "Collie Battery, Western Australia") =>
        new(new UnitDelivered(site), at ?? Day.AddDays(20));

    public static EventToRecord Commissioned(DateTimeOffset? at = null, string site = "Collie Battery, Western Australia") =>
        new(new UnitCommissioned(site), at ?? Day.AddDays(60));

    /// <summary>A unit's whole life to commissioning.</summary>
    public static IReadOnlyList<EventToRecord> WholeLife(DateTimeOffset built) =>
        [Built(built), Tested(at: built.AddHours(2)), Shipped(at: built.AddDays(1)), Delivered(built.AddDays(20)), Commissioned(built.AddDays(60))];

    public static UnitEventToRecord For(this EventToRecord e, string serial) => new(serial, e.Data, e.OccurredAt, e.EventId);

    /// <summary>A typed client with a new key of <paramref name="role"/> (line keys for Shanghai unless told).</summary>
    public static async Task<LedgerClient> ClientAsync(
        this LedgerApiFactory api, LedgerRole role, string? factory = null, LedgerRetryOptions? retry = null, params DelegatingHandler[] network)
    {
        var key = await api.CreateKeyAsync(role, role == LedgerRole.Line ? factory ?? "shanghai" : null);
        return new LedgerClient(api.CreateDefaultClient(network), new LedgerClientOptions { ApiKey = key, Retry = retry ?? Quick });
    }

    /// <summary>Retries as in production but without jitter and with short delays, so that tests run quickly.</summary>
    public static LedgerRetryOptions Quick => new() { BaseDelay = TimeSpan.FromMilliseconds(1), MaxDelay = TimeSpan.FromMilliseconds(20), UseJitter = false };
}
