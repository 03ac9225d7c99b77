using System.Collections.Concurrent;
using Ledger.EventStore.Tests.Support;
using Ledger.Testing;

namespace Ledger.EventStore.Tests;

/// <summary>Many writers on many connections, as several nodes would be: nothing lost, nothing doubled, no holes.</summary>
public sealed class ConcurrencyTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Fifty_writers_racing_on_one_stream_keep_it_contiguous_and_losers_get_the_typed_conflict()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        var nodes = await StartNodesAsync(db.ConnectionString, 5);
        var stream = Events.NewStream();
        var written = new ConcurrentBag<Guid>();
        var conflicts = 0;

        // Each writer reads the version, then appends expecting it, retrying on conflict: the optimistic loop a
        // command handler runs. 60 writers x 5 events on 5 nodes.
        await Parallel.ForEachAsync(Enumerable.Range(0, 60), new ParallelOptions { MaxDegreeOfParallelism = 60, CancellationToken = Ct }, async (w, ct) =>
        {
            var store = nodes[w % nodes.Length].Store;
            for (var i = 0; i < 5; i++)
            {
                var e = Events.Make(data: $$"""{"writer":{{w}},"i":{{i}}}""");
                while (true)
                {
                    var version = await store.GetStreamVersionAsync(stream, ct);
                    try
                    {
                        await store.AppendToStreamAsync(stream, ExpectedVersion.Exactly(version), [e], ct);
                        written.Add(e.EventId);
                        break;
                    }
                    catch (WrongExpectedVersionException conflict)
                    {
                        Assert.Equal(version, conflict.Expected.Version);
                        Assert.True(conflict.Actual > version);
                        Interlocked.Increment(ref conflicts);
                    }
                }
            }
        });

        var stored = await nodes[0].Store.ReadStreamAsync(stream, cancellationToken: Ct);
        Assert.Equal(300, stored.Count);
        Assert.Equal(Enumerable.Range(1, 300).Select(v => (long)v), stored.Select(e => e.StreamVersion));
        Assert.Equal(written.Order(), stored.Select(e => e.EventId).Order());
        Assert.True(conflicts > 0, "60 writers on one stream must have collided at least once");
        await DisposeAllAsync(nodes);
    }

    [Fact]
    public async Task Writers_on_different_streams_lose_nothing_and_double_nothing()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        var nodes = await StartNodesAsync(db.ConnectionString, 4);
        var streams = Enumerable.Range(0, 40).Select(_ => Events.NewStream()).ToArray();
        var acknowledged = new ConcurrentDictionary<Guid, string>();

        await Parallel.ForEachAsync(Enumerable.Range(0, 80), new ParallelOptions { MaxDegreeOfParallelism = 80, CancellationToken = Ct }, async (w, ct) =>
        {
            var store = nodes[w % nodes.Length].Store;
            for (var i = 0; i < 10; i++)
            {
                var stream = streams[(w + i) % streams.Length];
                var events = Events.Many(1 + (i % 3));
                await store.AppendToStreamAsync(stream, ExpectedVersion.Any, events, ct);
                foreach (var e in events) acknowledged[e.EventId] = stream;
            }
        });

        var feed = await FeedTests.ReadUntilAsync(nodes[0].Store, FeedCursor.Start, acknowledged.Count);
        Assert.Equal(acknowledged.Count, feed.Count);
        Assert.Equal(feed.Count, feed.Select(e => e.EventId).Distinct().Count());
        Assert.All(feed, e => Assert.Equal(acknowledged[e.EventId], e.StreamId));
        foreach (var group in feed.GroupBy(e => e.StreamId))
        {
            // Contiguous versions, and the feed shows each stream in version order.
            Assert.Equal(Enumerable.Range(1, group.Count()).Select(v => (long)v), group.Select(e => e.StreamVersion));
        }

        await DisposeAllAsync(nodes);
    }

    [Fact]
    public async Task The_same_append_retried_concurrently_from_many_nodes_is_stored_once()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        var nodes = await StartNodesAsync(db.ConnectionString, 4);
        var stream = Events.NewStream();
        var events = Events.Many(3);

        var results = await Task.WhenAll(Enumerable.Range(0, 40).Select(i =>
            nodes[i % nodes.Length].Store.AppendToStreamAsync(stream, ExpectedVersion.NoStream, events, Ct)));

        Assert.Single(results, r => !r.Replayed);
        Assert.All(results, r => Assert.Equal(results[0].Events, r.Events));
        Assert.Equal(3, await nodes[0].CountEventsAsync(stream));
        await DisposeAllAsync(nodes);
    }

    private static async Task<Node[]> StartNodesAsync(string connectionString, int count)
    {
        var nodes = new Node[count];
        for (var i = 0; i < count; i++) nodes[i] = await Node.StartAsync(connectionString);
        return nodes;
    }

    private static async Task DisposeAllAsync(Node[] nodes)
    {
        foreach (var node in nodes) await node.DisposeAsync();
    }
}
