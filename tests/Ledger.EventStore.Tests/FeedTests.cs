using System.Collections.Concurrent;
using Ledger.EventStore.Tests.Support;
using Ledger.Testing;

namespace Ledger.EventStore.Tests;

/// <summary>
/// The global feed never skips an event that commits late: the bug that made Marten, Eventuous and SqlStreamStore
/// readers lose events when a transaction with a lower sequence number committed after a higher one.
/// </summary>
public sealed class FeedTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_feed_pages_through_every_event_once_in_order()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var node = await Node.StartAsync(db.ConnectionString);
        var streams = Enumerable.Range(0, 7).Select(_ => Events.NewStream()).ToArray();
        var expected = new List<Guid>();
        foreach (var stream in streams)
        {
            var result = await node.Store.AppendToStreamAsync(stream, ExpectedVersion.NoStream, Events.Many(13), Ct);
            expected.AddRange(result.Events.Select(e => e.EventId));
        }

        await ReadUntilAsync(node.Store, FeedCursor.Start, expected.Count);
        var seen = new List<RecordedEvent>();
        var cursor = FeedCursor.Start;
        for (var page = await node.Store.ReadFeedAsync(cursor, 10, cancellationToken: Ct); page.Events.Count > 0;
             page = await node.Store.ReadFeedAsync(cursor, 10, cancellationToken: Ct))
        {
            Assert.True(page.Events.Count <= 10);
            seen.AddRange(page.Events);
            cursor = page.Next;
        }

        Assert.Equal(expected, seen.Select(e => e.EventId));
        Assert.True(seen.Zip(seen.Skip(1)).All(p => p.First.Cursor < p.Second.Cursor));
    }

    [Fact]
    public async Task The_feed_can_be_filtered_by_type()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var node = await Node.StartAsync(db.ConnectionString);
        var stream = Events.NewStream();
        await node.Store.AppendToStreamAsync(stream, ExpectedVersion.Any, [Events.Make("a.v1"), Events.Make("b.v1"), Events.Make("a.v1")], Ct);

        var filtered = await ReadUntilAsync(node.Store, FeedCursor.Start, 2, ["a.v1"]);

        Assert.Equal([1L, 3L], filtered.Select(e => e.StreamVersion));
    }

    [Fact]
    public async Task A_transaction_held_open_hides_later_commits_until_it_commits_and_then_nothing_is_skipped()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        var gate = new Gate();
        await using var slow = await Node.StartAsync(db.ConnectionString, o => o.InlineProjections.Add(gate));
        await using var fast = await Node.StartAsync(db.ConnectionString);
        await using var reader = await Node.StartAsync(db.ConnectionString);
        await fast.Store.AppendToStreamAsync(Events.NewStream(), ExpectedVersion.Any, Events.Many(2), Ct);
        var before = await ReadUntilAsync(reader.Store, FeedCursor.Start, 2);

        // The slow append draws its positions, then stays uncommitted at the gate.
        var held = slow.Store.AppendToStreamAsync(Events.NewStream("HELD"), ExpectedVersion.Any, Events.Many(3), Ct);
        await gate.Entered.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        var later = new List<AppendResult>();
        for (var i = 0; i < 5; i++)
        {
            later.Add(await fast.Store.AppendToStreamAsync(Events.NewStream(), ExpectedVersion.Any, Events.Many(2), Ct));
        }

        Assert.True(later.SelectMany(r => r.Events).All(e => e.Position > gate.HeldThrough),
            "the later appends committed with higher positions than the held one");
        var duringHold = await ReadAfterAsync(reader.Store, before[^1].Cursor);
        Assert.Empty(duringHold);

        gate.Release();
        var heldResult = await held;
        var afterCommit = await ReadUntilAsync(reader.Store, before[^1].Cursor, 13);

        var expected = heldResult.Events.Select(e => e.EventId).Concat(later.SelectMany(r => r.Events).Select(e => e.EventId));
        Assert.Equal(expected, afterCommit.Select(e => e.EventId));
    }

    [Fact]
    public async Task Readers_tailing_the_feed_under_racing_writers_on_several_nodes_see_every_event_exactly_once()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        // Writers whose transactions linger for a random moment after drawing positions, so commits land out of
        // position order all the time.
        var nodes = new List<Node>();
        for (var i = 0; i < 4; i++)
        {
            var seed = i;
            nodes.Add(await Node.StartAsync(db.ConnectionString, o => o.InlineProjections.Add(new RandomDelay(seed))));
        }

        var acknowledged = new ConcurrentDictionary<Guid, byte>();
        using var writing = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var writers = Enumerable.Range(0, 24).Select(w => Task.Run(async () =>
        {
            for (var i = 0; i < 25; i++)
            {
                var events = Events.Many(1 + (i % 4));
                await nodes[w % nodes.Count].Store.AppendToStreamAsync(Events.NewStream(), ExpectedVersion.Any, events, Ct);
                foreach (var e in events) acknowledged[e.EventId] = 0;
            }
        }, Ct)).ToArray();

        var writersDone = Task.WhenAll(writers);
        var tailers = Enumerable.Range(0, 3).Select(_ => Task.Run(async () =>
        {
            // Tail while the writers run, then finish the read once the final count is known.
            var seen = new List<RecordedEvent>();
            var cursor = FeedCursor.Start;
            while (!writersDone.IsCompleted)
            {
                var page = await nodes[0].Store.ReadFeedAsync(cursor, 37, cancellationToken: Ct);
                seen.AddRange(page.Events);
                cursor = page.Next;
                if (page.Events.Count == 0) await Task.Delay(5, Ct);
            }

            var total = await nodes[0].CountEventsAsync();
            seen.AddRange(await ReadUntilAsync(nodes[0].Store, cursor, total - seen.Count));
            return seen;
        }, Ct)).ToArray();

        await writersDone;
        var views = await Task.WhenAll(tailers);

        var total = await nodes[0].CountEventsAsync();
        Assert.Equal(acknowledged.Count, total);
        foreach (var seen in views)
        {
            Assert.Equal(total, seen.Count);
            Assert.Equal(seen.Count, seen.Select(e => e.EventId).Distinct().Count());
            Assert.True(seen.Zip(seen.Skip(1)).All(p => p.First.Cursor < p.Second.Cursor), "cursors only move forward");
            Assert.True(seen.Select(e => e.EventId).ToHashSet().SetEquals(acknowledged.Keys), "every acknowledged event, nothing else");
        }

        foreach (var node in nodes) await node.DisposeAsync();
    }

    private static async Task<List<RecordedEvent>> ReadAfterAsync(EventStore store, FeedCursor after)
    {
        var page = await store.ReadFeedAsync(after, 1000, cancellationToken: Ct);
        return [.. page.Events];
    }

    /// <summary>
    /// Tails the feed until <paramref name="count"/> events have come. An empty page does not mean "caught up": the
    /// snapshot horizon is cluster-wide, so other tests' open transactions (other databases, same server) hold it back
    /// for a moment. Hence a deadline rather than a single read.
    /// </summary>
    internal static async Task<List<RecordedEvent>> ReadUntilAsync(EventStore store, FeedCursor after, long count, string[]? types = null)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        deadline.CancelAfter(TimeSpan.FromSeconds(60));
        var seen = new List<RecordedEvent>();
        while (seen.Count < count)
        {
            var page = await store.ReadFeedAsync(after, 500, types, deadline.Token);
            seen.AddRange(page.Events);
            after = page.Next;
            if (page.Events.Count == 0) await Task.Delay(10, deadline.Token);
        }

        // Anything past the expected count would be a duplicate or a stranger; one more read must find nothing.
        var extra = await store.ReadFeedAsync(after, 500, types, Ct);
        seen.AddRange(extra.Events);
        return seen;
    }

    /// <summary>Holds each append's transaction open for a random moment after Marten has drawn its positions.</summary>
    private sealed class RandomDelay(int seed) : Marten.Events.Projections.IProjection
    {
        private readonly Random _random = new(seed);

        public Task ApplyAsync(Marten.IDocumentOperations operations, IReadOnlyList<JasperFx.Events.IEvent> events, CancellationToken cancellation)
        {
            int delay;
            lock (_random) delay = _random.Next(0, 15);
            operations.QueueSqlCommand("select pg_sleep(?)", delay / 1000.0);
            return Task.CompletedTask;
        }
    }
}
