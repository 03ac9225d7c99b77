using Ledger.EventStore.Tests.Support;
using Ledger.Testing;

namespace Ledger.EventStore.Tests;

public sealed class AppendContractTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>, IAsyncLifetime
{
    private Node _node = null!;
    private EventStore Store => _node.Store;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _node = await Node.StartAsync(database.ConnectionString);

    public ValueTask DisposeAsync() => _node.DisposeAsync();

    [Fact]
    public async Task Appending_to_a_new_stream_starts_it_at_version_1_with_contiguous_versions()
    {
        var stream = Events.NewStream();

        var result = await Store.AppendToStreamAsync(stream, ExpectedVersion.NoStream, Events.Many(3), Ct);

        Assert.Equal(3, result.Version);
        Assert.False(result.Replayed);
        Assert.Equal([1L, 2L, 3L], result.Events.Select(e => e.StreamVersion));
        Assert.True(result.Events.Zip(result.Events.Skip(1)).All(p => p.First.Position < p.Second.Position));
        var stored = await Store.ReadStreamAsync(stream, cancellationToken: Ct);
        Assert.Equal(result.Events.Select(e => e.EventId), stored.Select(e => e.EventId));
        Assert.Equal(3, await Store.GetStreamVersionAsync(stream, Ct));
    }

    [Fact]
    public async Task An_exact_expected_version_that_matches_appends()
    {
        var stream = Events.NewStream();
        await Store.AppendToStreamAsync(stream, ExpectedVersion.NoStream, Events.Many(2), Ct);

        var result = await Store.AppendToStreamAsync(stream, ExpectedVersion.Exactly(2), [Events.Make()], Ct);

        Assert.Equal(3, result.Version);
    }

    [Fact]
    public async Task A_wrong_exact_version_is_refused_with_both_versions_and_writes_nothing()
    {
        var stream = Events.NewStream();
        await Store.AppendToStreamAsync(stream, ExpectedVersion.NoStream, Events.Many(2), Ct);

        var error = await Assert.ThrowsAsync<WrongExpectedVersionException>(
            () => Store.AppendToStreamAsync(stream, ExpectedVersion.Exactly(1), [Events.Make()], Ct));

        Assert.Equal(stream, error.StreamId);
        Assert.Equal(1, error.Expected.Version);
        Assert.Equal(2, error.Actual);
        Assert.Equal(2, await _node.CountEventsAsync(stream));
    }

    [Fact]
    public async Task No_stream_is_refused_when_the_stream_has_events()
    {
        var stream = Events.NewStream();
        await Store.AppendToStreamAsync(stream, ExpectedVersion.Any, [Events.Make()], Ct);

        var error = await Assert.ThrowsAsync<WrongExpectedVersionException>(
            () => Store.AppendToStreamAsync(stream, ExpectedVersion.NoStream, [Events.Make()], Ct));

        Assert.Equal(1, error.Actual);
        Assert.Equal(0, error.Expected.Version);
    }

    [Fact]
    public async Task Stream_exists_is_refused_for_a_stream_without_events()
    {
        var stream = Events.NewStream();

        var error = await Assert.ThrowsAsync<WrongExpectedVersionException>(
            () => Store.AppendToStreamAsync(stream, ExpectedVersion.StreamExists, [Events.Make()], Ct));

        Assert.Equal(0, error.Actual);
        Assert.Equal(0, await _node.CountEventsAsync(stream));
        var appended = await Store.AppendToStreamAsync(stream, ExpectedVersion.Any, [Events.Make()], Ct);
        var next = await Store.AppendToStreamAsync(stream, ExpectedVersion.StreamExists, [Events.Make()], Ct);
        Assert.Equal(1, appended.Version);
        Assert.Equal(2, next.Version);
    }

    [Fact]
    public async Task Any_appends_whatever_the_version()
    {
        var stream = Events.NewStream();
        await Store.AppendToStreamAsync(stream, ExpectedVersion.Any, [Events.Make()], Ct);

        var result = await Store.AppendToStreamAsync(stream, ExpectedVersion.Any, Events.Many(2), Ct);

        Assert.Equal(3, result.Version);
    }

    [Fact]
    public async Task A_refused_writer_leaves_no_gap_in_positions()
    {
        // Positions are drawn only after the version check passes, so the refusal in between must not consume one.
        var stream = Events.NewStream();
        var before = await Store.AppendToStreamAsync(stream, ExpectedVersion.NoStream, [Events.Make()], Ct);
        await Assert.ThrowsAsync<WrongExpectedVersionException>(
            () => Store.AppendToStreamAsync(stream, ExpectedVersion.NoStream, Events.Many(5), Ct));
        var after = await Store.AppendToStreamAsync(stream, ExpectedVersion.Exactly(1), [Events.Make()], Ct);

        Assert.Equal(before.Events[0].Position + 1, after.Events[0].Position);
    }

    [Fact]
    public async Task An_append_across_streams_is_all_or_nothing()
    {
        var (a, b, c) = (Events.NewStream("A"), Events.NewStream("B"), Events.NewStream("C"));
        await Store.AppendToStreamAsync(b, ExpectedVersion.NoStream, [Events.Make()], Ct);

        var error = await Assert.ThrowsAsync<WrongExpectedVersionException>(() => Store.AppendAsync(
        [
            new StreamAppend(a, ExpectedVersion.NoStream, Events.Many(2)),
            new StreamAppend(b, ExpectedVersion.NoStream, [Events.Make()]),
            new StreamAppend(c, ExpectedVersion.Any, [Events.Make()]),
        ], Ct));

        Assert.Equal(b, error.StreamId);
        Assert.Equal(0, await _node.CountEventsAsync(a));
        Assert.Equal(1, await _node.CountEventsAsync(b));
        Assert.Equal(0, await _node.CountEventsAsync(c));

        var results = await Store.AppendAsync(
        [
            new StreamAppend(a, ExpectedVersion.NoStream, Events.Many(2)),
            new StreamAppend(b, ExpectedVersion.Exactly(1), [Events.Make()]),
        ], Ct);
        Assert.Equal([(a, 2L), (b, 2L)], results.Select(r => (r.StreamId, r.Version)));
        Assert.Equal(1L, await _node.CountTransactionsAsync([.. results.SelectMany(r => r.Events).Select(e => e.EventId)]));
    }

    [Fact]
    public async Task Appending_the_same_events_again_returns_the_original_result_and_writes_nothing()
    {
        var stream = Events.NewStream();
        var events = Events.Many(3);
        var original = await Store.AppendToStreamAsync(stream, ExpectedVersion.NoStream, events, Ct);
        await Store.AppendToStreamAsync(stream, ExpectedVersion.Exactly(3), [Events.Make()], Ct);

        // The retry still carries its stale expectation; it is recognised by its ids before versions are checked.
        var retry = await Store.AppendToStreamAsync(stream, ExpectedVersion.NoStream, events, Ct);

        Assert.True(retry.Replayed);
        Assert.Equal(original.Version, retry.Version);
        Assert.Equal(original.Events, retry.Events);
        Assert.Equal(4, await _node.CountEventsAsync(stream));
    }

    [Fact]
    public async Task Idempotency_survives_a_restart_because_it_lives_in_the_database()
    {
        var stream = Events.NewStream();
        var events = Events.Many(2);
        var original = await Store.AppendToStreamAsync(stream, ExpectedVersion.NoStream, events, Ct);

        await using var restarted = await Node.StartAsync(database.ConnectionString);
        var retry = await restarted.Store.AppendToStreamAsync(stream, ExpectedVersion.NoStream, events, Ct);

        Assert.True(retry.Replayed);
        Assert.Equal(original.Events, retry.Events);
        Assert.Equal(2, await _node.CountEventsAsync(stream));
    }

    [Fact]
    public async Task The_same_event_id_with_different_data_is_a_typed_conflict()
    {
        var stream = Events.NewStream();
        var original = Events.Make(data: """{"n":1}""");
        await Store.AppendToStreamAsync(stream, ExpectedVersion.Any, [original], Ct);

        var error = await Assert.ThrowsAsync<EventIdConflictException>(() =>
            Store.AppendToStreamAsync(stream, ExpectedVersion.Any, [original with { Data = """{"n":2}""" }], Ct));

        Assert.Equal(original.EventId, error.EventId);
        Assert.Contains("different data", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, await _node.CountEventsAsync(stream));
    }

    [Fact]
    public async Task The_same_data_written_differently_is_still_the_same_event()
    {
        var stream = Events.NewStream();
        var original = Events.Make(data: """{"b":[1,2],"a":{"x":"é"}}""");
        await Store.AppendToStreamAsync(stream, ExpectedVersion.Any, [original], Ct);

        var retry = await Store.AppendToStreamAsync(stream, ExpectedVersion.Any,
            [original with { Data = """ { "a" : { "x" : "\u00e9" }, "b" : [ 1.0, 2 ] } """ }], Ct);

        Assert.True(retry.Replayed);
    }

    [Fact]
    public async Task The_same_event_id_with_another_type_or_time_is_a_conflict()
    {
        var stream = Events.NewStream();
        var original = Events.Make();
        await Store.AppendToStreamAsync(stream, ExpectedVersion.Any, [original], Ct);

        await Assert.ThrowsAsync<EventIdConflictException>(() =>
            Store.AppendToStreamAsync(stream, ExpectedVersion.Any, [original with { Type = "other.v1" }], Ct));
        await Assert.ThrowsAsync<EventIdConflictException>(() =>
            Store.AppendToStreamAsync(stream, ExpectedVersion.Any, [original with { OccurredAt = original.OccurredAt.AddSeconds(1) }], Ct));
    }

    [Fact]
    public async Task The_same_event_id_in_another_stream_is_a_conflict()
    {
        var original = Events.Make();
        await Store.AppendToStreamAsync(Events.NewStream(), ExpectedVersion.Any, [original], Ct);
        var other = Events.NewStream();

        var error = await Assert.ThrowsAsync<EventIdConflictException>(() =>
            Store.AppendToStreamAsync(other, ExpectedVersion.Any, [original], Ct));

        Assert.Contains("belongs to stream", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, await _node.CountEventsAsync(other));
    }

    [Fact]
    public async Task An_append_that_repeats_only_some_stored_ids_is_a_conflict()
    {
        var stream = Events.NewStream();
        var stored = Events.Make();
        await Store.AppendToStreamAsync(stream, ExpectedVersion.Any, [stored], Ct);

        await Assert.ThrowsAsync<EventIdConflictException>(() =>
            Store.AppendToStreamAsync(stream, ExpectedVersion.Any, [stored, Events.Make()], Ct));

        Assert.Equal(1, await _node.CountEventsAsync(stream));
    }

    [Fact]
    public async Task Data_that_is_not_a_json_object_or_repeats_a_key_is_refused_before_writing()
    {
        var stream = Events.NewStream();

        await Assert.ThrowsAsync<InvalidEventDataException>(() =>
            Store.AppendToStreamAsync(stream, ExpectedVersion.Any, [Events.Make(data: "[1,2]")], Ct));
        await Assert.ThrowsAsync<InvalidEventDataException>(() =>
            Store.AppendToStreamAsync(stream, ExpectedVersion.Any, [Events.Make(data: """{"a":1,"a":2}""")], Ct));
        await Assert.ThrowsAsync<InvalidEventDataException>(() =>
            Store.AppendToStreamAsync(stream, ExpectedVersion.Any, [Events.Make(data: """{"a":""")], Ct));
        Assert.Equal(0, await _node.CountEventsAsync(stream));
    }

    [Fact]
    public async Task An_append_naming_an_event_id_twice_is_refused()
    {
        var e = Events.Make();

        await Assert.ThrowsAsync<ArgumentException>(() =>
            Store.AppendToStreamAsync(Events.NewStream(), ExpectedVersion.Any, [e, e], Ct));
    }

    [Fact]
    public async Task Events_keep_their_metadata_times_and_a_hash_chained_to_the_previous_event()
    {
        var clock = new ManualClock(new DateTimeOffset(2026, 11, 22, 10, 0, 0, TimeSpan.Zero).AddTicks(1234567));
        await using var node = await Node.StartAsync(database.ConnectionString, o => o.TimeProvider = clock);
        var stream = Events.NewStream();
        var occurredAt = new DateTimeOffset(2025, 3, 1, 23, 59, 59, TimeSpan.FromHours(8)).AddTicks(9999999);
        var first = new EventData(Guid.CreateVersion7(), "unit-built.v1", """{"kwh":3900.5,"big":1e21,"s":"line\n\"1\" ✓"}""", occurredAt,
            new EventMetadata { Actor = "line-7", ActorId = "k1", CorrelationId = "c", CausationId = "x", IdempotencyKey = "i", Extra = new Dictionary<string, string> { ["shift"] = "night" } });

        await node.Store.AppendToStreamAsync(stream, ExpectedVersion.NoStream, [first, Events.Make()], Ct);
        var stored = await node.Store.ReadStreamAsync(stream, cancellationToken: Ct);

        Assert.Equal("line-7", stored[0].Metadata.Actor);
        Assert.Equal("night", stored[0].Metadata.Extra!["shift"]);
        Assert.Equal(occurredAt.UtcTicks - occurredAt.UtcTicks % 10, stored[0].OccurredAt.UtcTicks);
        Assert.Equal(clock.Now.UtcTicks - clock.Now.UtcTicks % 10, stored[0].RecordedAt.UtcTicks);
        // Recomputed from what PostgreSQL hands back (jsonb text, microsecond times), the hashes match the stored ones.
        var previous = Array.Empty<byte>();
        foreach (var e in stored)
        {
            var expected = Hashing.EventHasher.Hash(e.StreamId, e.StreamVersion, e.EventId, e.Type, e.Data, e.MetadataJson,
                e.OccurredAt, e.RecordedAt, previous);
            Assert.Equal(expected, e.Hash.ToArray());
            previous = expected;
        }
    }
}
