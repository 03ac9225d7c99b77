using Ledger.Production.Factories;
using Ledger.Production.Units;

namespace Ledger.Production.Tests.Support;

/// <summary>
/// Given events / when an event / then accepted or a rejection code. Given events are an hour apart, starting after
/// Shanghai's production start; the proposed event happens an hour after the last of them, and the ledger's clock reads
/// that same moment unless a test says otherwise.
/// </summary>
internal sealed class Scenario
{
    public static readonly DateTimeOffset Start = new(2025, 3, 3, 8, 0, 0, TimeSpan.Zero);

    private readonly List<OccurredEvent> _history = [];
    private IFactoryRegistry _factories = InMemoryFactoryRegistry.Seeded;

    private Scenario()
    {
    }

    /// <summary>The moment the next event happens by default.</summary>
    public DateTimeOffset Next => Start + TimeSpan.FromHours(_history.Count);

    public UnitState State => UnitRules.Fold(_history);

    public static Scenario Given(params IUnitEvent[] history)
    {
        var scenario = new Scenario();
        foreach (var @event in history)
        {
            scenario._history.Add(new OccurredEvent(@event, scenario.Next));
        }

        return scenario;
    }

    public static Scenario Given(UnitStage stage) => Given(Sample.HistoryFor[stage]);

    public Scenario WithFactories(params Factory[] factories)
    {
        _factories = new InMemoryFactoryRegistry(factories);
        return this;
    }

    public Outcome When(IUnitEvent proposed, DateTimeOffset? occurredAt = null, DateTimeOffset? now = null)
    {
        var at = occurredAt ?? Next;
        return new Outcome(UnitRules.Decide(State, new OccurredEvent(proposed, at), now ?? at, _factories));
    }

    internal sealed record Outcome(Decision Decision)
    {
        public void ThenAccepted() =>
            Assert.True(Decision.IsAccepted, $"Expected acceptance, got {Decision.Rejection}.");

        public void ThenRejected(string code)
        {
            Assert.False(Decision.IsAccepted, $"Expected rejection '{code}', but the event was accepted.");
            Assert.Equal(code, Decision.Rejection!.Code);
            Assert.False(string.IsNullOrWhiteSpace(Decision.Rejection.Message));
        }
    }
}
