using Ledger.Demo;

namespace Ledger.Client.Tests.Demo;

/// <summary>
/// What finishing a seeding stopped half-way rests on: every post says which history it belongs to (its as-of, to the
/// tick, in the correlation id), that as-of makes the same history again, and the rest of a history is its events not
/// yet recorded, in their order.
/// </summary>
public sealed class DemoResumeTests
{
    // Not a whole second: the as-of must come back to the tick, or the history made again would differ.
    private static readonly DateTimeOffset AsOf = new DateTimeOffset(2025, 6, 30, 9, 41, 7, TimeSpan.Zero).AddTicks(1_234_567);

    private static readonly Lazy<DemoHistory> Shanghai = new(() => DemoHistory.Generate(new DemoHistoryOptions { Until = AsOf, Factories = ["shanghai"] }));

    [Fact]
    public void A_posts_correlation_id_gives_back_the_as_of_of_its_history_to_the_tick()
    {
        var history = Shanghai.Value;
        var id = DemoSeeder.CorrelationId(history, history.Actors[1], 42);

        Assert.Equal("demo-20250630T094107.1234567Z-" + history.Actors[1].Name + "-00042", id);
        Assert.True(DemoSeeder.TryReadAsOf(id, out var asOf));
        Assert.Equal(AsOf, asOf);
        Assert.Equal(AsOf.UtcTicks, asOf.UtcTicks);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("mes-7")]
    [InlineData("demo-lathrop-mes-00001")]
    [InlineData("demo-20250630T094107.1234567Z")]
    [InlineData("demo-20250631T094107.1234567Z-lathrop-mes-00001")]
    public void Other_correlation_ids_are_no_seedings(string? correlationId)
    {
        Assert.False(DemoSeeder.TryReadAsOf(correlationId, out _));
    }

    [Fact]
    public void The_rest_of_a_history_is_its_events_not_recorded_in_their_order()
    {
        var history = Shanghai.Value;
        // What a seeding stopped half-way recorded: the start of every unit's stream, some units' whole stream.
        var recorded = history.Events.GroupBy(e => e.Serial)
            .SelectMany(unit => unit.OrderBy(e => e.Version).Take(unit.Count() / 2 + 1))
            .Select(e => e.EventId).ToHashSet();

        var rest = history.Without(recorded);

        Assert.Equal(history.Events.Where(e => !recorded.Contains(e.EventId)).Select(e => e.EventId), rest.Events.Select(e => e.EventId));
        Assert.Equal(history.Events.Count - recorded.Count, rest.Events.Count);
        Assert.Equal(history.Options, rest.Options);
        Assert.Equal(history.Actors, rest.Actors);
    }

    [Fact]
    public void The_as_of_read_back_makes_the_same_history_event_for_event()
    {
        var history = Shanghai.Value;
        Assert.True(DemoSeeder.TryReadAsOf(DemoSeeder.CorrelationId(history, history.Actors[0], 1), out var asOf));

        var again = DemoHistory.Generate(new DemoHistoryOptions { Until = asOf, Factories = ["shanghai"] });

        Assert.Equal(history.Events.Select(e => (e.EventId, e.Serial, e.Version, e.OccurredAt)), again.Events.Select(e => (e.EventId, e.Serial, e.Version, e.OccurredAt)));
    }
}
