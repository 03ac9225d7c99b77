using Ledger.Production.Units;

namespace Ledger.Demo;

/// <summary>What demo history to make.</summary>
public sealed record DemoHistoryOptions
{
    /// <summary>The seed: the same seed and <see cref="Until"/> give the same history, event for event.</summary>
    public int Seed { get; init; } = 2022;

    /// <summary>The present: nothing in the history happens after it (units built just before are still on the line).</summary>
    public required DateTimeOffset Until { get; init; }

    /// <summary>
    /// The factories to make history for (<c>lathrop</c>, <c>shanghai</c>); all producing ones when null. A factory's
    /// history is the same whichever others are made with it.
    /// </summary>
    public IReadOnlyList<string>? Factories { get; init; }
}

/// <summary>A line system of a factory, which posts one kind of event with its own line key.</summary>
/// <param name="Name">The key's name, recorded as the actor of its events (<c>lathrop-mes</c>).</param>
/// <param name="FactoryId">The factory its line key acts for.</param>
/// <param name="Order">
/// Its place in a unit's life: manufacturing execution (builds) 0, end-of-line test (tests, reworks, scrapping at the
/// factory) 1, logistics (shipments, cancellations, deliveries, losses in transit) 2, field service (commissioning) 3.
/// A unit's events by one system never precede its events by an earlier one.
/// </param>
/// <param name="Description">What it is.</param>
public sealed record DemoActor(string Name, string FactoryId, int Order, string Description);

/// <summary>One event of the demo history, as a line system posts it.</summary>
/// <param name="Serial">The unit.</param>
/// <param name="FactoryId">Where the unit was built.</param>
/// <param name="Actor">The line system that posts it (<see cref="DemoActor.Name"/>).</param>
/// <param name="Version">Its place in the unit's stream, from 1.</param>
/// <param name="EventId">Its id (UUID version 7 of its moment), the same for the same seed.</param>
/// <param name="Data">The event.</param>
/// <param name="OccurredAt">When it happened, at the offset of the system that recorded it.</param>
public sealed record DemoEvent(string Serial, string FactoryId, string Actor, int Version, Guid EventId, IUnitEvent Data, DateTimeOffset OccurredAt);

/// <summary>
/// A believable, seeded history of Megapack production, shipment and deployment that agrees with the public record
/// (docs/domain.md; /work/shared/DOMAIN.md): Lathrop from 2022 through its 10,000th unit in November 2024 and on,
/// Shanghai from 2025-02-11 to its 1,000th unit in under six months (shipped to Europe) and on, first exports from
/// Shanghai to Australia in March 2025, no production at Waller County. Units fail tests and are reworked and retested,
/// ship to several countries per region, and are delivered and commissioned weeks to months after shipping, so at
/// <see cref="DemoHistoryOptions.Until"/> some are still in transit and some not yet commissioned.
/// </summary>
public sealed class DemoHistory
{
    private DemoHistory(DemoHistoryOptions options, IReadOnlyList<DemoEvent> events, IReadOnlyList<DemoActor> actors)
    {
        Options = options;
        Events = events;
        Actors = actors;
    }

    /// <summary>What the history was made with.</summary>
    public DemoHistoryOptions Options { get; }

    /// <summary>Every event in the order it happened (ties: factory, serial, version).</summary>
    public IReadOnlyList<DemoEvent> Events { get; }

    /// <summary>The line systems that post the events: four for each factory.</summary>
    public IReadOnlyList<DemoActor> Actors { get; }

    /// <summary>
    /// The events of this history that are not in <paramref name="recorded"/> (event ids), in the same order, with the
    /// same options and actors: what is left to post of a seeding that stopped half-way. A seeding posts each unit's
    /// events in order, one post at a time per system, so what it recorded of a unit is the start of the unit's stream and
    /// what is left its end.
    /// </summary>
    /// <param name="recorded">The ids of the events the ledger holds.</param>
    /// <returns>The rest of the history.</returns>
    public DemoHistory Without(IReadOnlySet<Guid> recorded)
    {
        ArgumentNullException.ThrowIfNull(recorded);
        return new DemoHistory(Options, [.. Events.Where(e => !recorded.Contains(e.EventId))], Actors);
    }

    /// <summary>Makes the history.</summary>
    /// <param name="options">Seed, the present, and which factories.</param>
    /// <returns>The history.</returns>
    /// <exception cref="ArgumentException">A factory that the demo does not produce for (Waller County has no production).</exception>
    public static DemoHistory Generate(DemoHistoryOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var profiles = options.Factories is null
            ? FactoryProfiles.All
            : [.. options.Factories.Select(id => FactoryProfiles.All.FirstOrDefault(p => p.FactoryId == id)
                ?? throw new ArgumentException($"The demo produces at {string.Join(" and ", FactoryProfiles.All.Select(p => p.FactoryId))}, not at '{id}'.", nameof(options)))];

        var events = new List<DemoEvent>();
        var actors = new List<DemoActor>();
        foreach (var profile in profiles.DistinctBy(p => p.FactoryId))
        {
            var simulation = new FactorySimulation(profile, options.Seed, options.Until);
            events.AddRange(simulation.Run());
            actors.AddRange(simulation.Actors);
        }

        events.Sort(static (a, b) =>
        {
            var order = a.OccurredAt.UtcTicks.CompareTo(b.OccurredAt.UtcTicks);
            if (order == 0) order = string.CompareOrdinal(a.FactoryId, b.FactoryId);
            if (order == 0) order = string.CompareOrdinal(a.Serial, b.Serial);
            return order != 0 ? order : a.Version.CompareTo(b.Version);
        });
        return new DemoHistory(options, events, actors);
    }
}
