using System.Collections.Concurrent;
using System.Diagnostics;
using Ledger.EventStore.Tests.Support;
using Ledger.Testing;
using Npgsql;

namespace Ledger.EventStore.Tests;

/// <summary>
/// Concurrent appends share one transaction, yet each keeps its own atomicity: one request's conflict or bad data never
/// fails its neighbours. A gate holds the single writer's first batch open so the next batch forms deterministically.
/// </summary>
public sealed class GroupCommitTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Waiting_appends_commit_together_and_a_conflict_fails_only_its_own_request()
    {
        var gate = new Gate();
        var batches = new ConcurrentQueue<(int Requests, int Events)>();
        await using var node = await Node.StartAsync(database.ConnectionString, o =>
        {
            o.Writers = 1;
            o.InlineProjections.Add(gate);
        });
        node.Store.BatchCommitted += (requests, events) => batches.Enqueue((requests, events));
        var (s1, s2, s3) = (Events.NewStream(), Events.NewStream(), Events.NewStream());

        var first = node.Store.AppendToStreamAsync(Events.NewStream(), ExpectedVersion.Any, [Events.Make()], Ct);
        await gate.Entered.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        var b = node.Store.AppendToStreamAsync(s1, ExpectedVersion.NoStream, Events.Many(2), Ct);
        var c = node.Store.AppendToStreamAsync(s2, ExpectedVersion.Exactly(5), [Events.Make()], Ct);
        var e = node.Store.AppendToStreamAsync(s3, ExpectedVersion.NoStream, [Events.Make()], Ct);
        var f = node.Store.AppendToStreamAsync(s1, ExpectedVersion.Exactly(2), [Events.Make()], Ct);
        await WaitUntilAsync(() => node.Store.QueuedAppends == 4);
        gate.Release();

        await first;
        Assert.Equal(2, (await b).Version);
        var conflict = await Assert.ThrowsAsync<WrongExpectedVersionException>(() => c);
        Assert.Equal(0, conflict.Actual);
        Assert.Equal(1, (await e).Version);
        // f touches b's stream, so it waited for the next batch and saw b's events.
        Assert.Equal(3, (await f).Version);
        Assert.Equal([(1, 1), (3, 4), (1, 1)], batches.ToArray());
    }

    [Fact]
    public async Task A_request_that_breaks_the_transaction_is_refused_alone()
    {
        var gate = new Gate();
        await using var node = await Node.StartAsync(database.ConnectionString, o =>
        {
            o.Writers = 1;
            o.InlineProjections.Add(gate);
            o.InlineProjections.Add(new Poisoned());
        });
        var streams = Enumerable.Range(0, 4).Select(_ => Events.NewStream()).ToArray();

        var first = node.Store.AppendToStreamAsync(Events.NewStream(), ExpectedVersion.Any, [Events.Make()], Ct);
        await gate.Entered.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        var good1 = node.Store.AppendToStreamAsync(streams[0], ExpectedVersion.Any, [Events.Make()], Ct);
        var poison = node.Store.AppendToStreamAsync(streams[1], ExpectedVersion.Any, [Events.Make("poison.v1")], Ct);
        // Valid JSON that jsonb refuses (22P05): the database, not our code, breaks this one.
        var nul = node.Store.AppendToStreamAsync(streams[2], ExpectedVersion.Any, [Events.Make(data: """{"s":"\u0000"}""")], Ct);
        var good2 = node.Store.AppendToStreamAsync(streams[3], ExpectedVersion.Any, [Events.Make()], Ct);
        await WaitUntilAsync(() => node.Store.QueuedAppends == 4);
        gate.Release();

        await first;
        Assert.Equal(1, (await good1).Version);
        Assert.Equal(1, (await good2).Version);
        var thrown = await Assert.ThrowsAsync<InvalidOperationException>(() => poison);
        Assert.Equal("poisoned", thrown.Message);
        var refused = await Assert.ThrowsAsync<PostgresException>(() => nul);
        Assert.StartsWith("22", refused.SqlState, StringComparison.Ordinal);
        Assert.Equal(0, await node.CountEventsAsync(streams[1]));
        Assert.Equal(0, await node.CountEventsAsync(streams[2]));
    }

    [Fact]
    public async Task Prepared_stream_reads_and_refused_appends_take_turns_on_one_connection_without_breaking_it()
    {
        // One pooled connection for everything: the writers' stream read is prepared on it, then an append on it is refused
        // by the database and rolled back, again and again. Auto-preparation broke connections exactly there (npgsql#6391).
        // No high-water detection: Marten's listener would hold the one connection for good.
        await using var node = await Node.StartAsync(database.ConnectionString + ";Maximum Pool Size=1", o => (o.Writers, o.DetectHighWater) = (1, false));
        var stream = Events.NewStream();
        for (var round = 1; round <= 5; round++)
        {
            await node.Store.AppendToStreamAsync(stream, ExpectedVersion.Any, [Events.Make()], Ct);
            Assert.Equal(round, (await node.Store.ReadStreamsAsync([stream], Ct))[stream].Count);
            Assert.Equal(round, (await node.Store.ReadStreamsAsync([stream, Events.NewStream()], Ct))[stream].Count);
            var refused = await Assert.ThrowsAsync<PostgresException>(() => node.Store.AppendToStreamAsync(
                Events.NewStream(), ExpectedVersion.Any, [Events.Make(data: """{"s":"\u0000"}""")], Ct));
            Assert.StartsWith("22", refused.SqlState, StringComparison.Ordinal);
        }

        var events = (await node.Store.ReadStreamsAsync([stream], Ct))[stream];
        Assert.Equal([1L, 2, 3, 4, 5], events.Select(e => e.StreamVersion));
        Assert.Equal(5, await node.CountEventsAsync(stream));
        await using var prepared = node.DataSource.CreateCommand(
            "select count(*) from pg_prepared_statements where statement like '%from ledger.events%where stream_id = %'");
        Assert.Equal(2L, await prepared.ExecuteScalarAsync(Ct)); // the one-stream read and the several-streams read
    }

    [Fact]
    public async Task A_cancelled_append_that_has_not_started_writes_nothing()
    {
        var gate = new Gate();
        await using var node = await Node.StartAsync(database.ConnectionString, o =>
        {
            o.Writers = 1;
            o.InlineProjections.Add(gate);
        });
        var stream = Events.NewStream();
        using var cancel = new CancellationTokenSource();

        var first = node.Store.AppendToStreamAsync(Events.NewStream(), ExpectedVersion.Any, [Events.Make()], Ct);
        await gate.Entered.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        var cancelled = node.Store.AppendToStreamAsync(stream, ExpectedVersion.Any, [Events.Make()], cancel.Token);
        await WaitUntilAsync(() => node.Store.QueuedAppends == 1);
        await cancel.CancelAsync();
        gate.Release();

        await first;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        Assert.Equal(0, await node.CountEventsAsync(stream));
    }

    [Fact]
    public async Task A_batch_of_one_continues_its_requests_trace_and_a_batch_of_several_links_to_each_request()
    {
        using var requests = new ActivitySource($"test.requests.{Guid.NewGuid():N}");
        var commits = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source == requests || source.Name == EventStoreInstrumentation.ActivitySourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity => { if (activity.Source.Name == EventStoreInstrumentation.ActivitySourceName) commits.Enqueue(activity); },
        };
        ActivitySource.AddActivityListener(listener);

        // The store is built inside a span, as it would be if a request built it: its writers must not join that trace.
        var gate = new Gate();
        Node node;
        using (requests.StartActivity("builds the store"))
        {
            node = await Node.StartAsync(database.ConnectionString, o =>
            {
                o.Writers = 1;
                o.InlineProjections.Add(gate);
            });
        }

        ActivityContext aloneSpan, bSpan, cSpan;
        await using (node)
        {
            Task<AppendResult> Append(string name, out ActivityContext span)
            {
                using var request = requests.StartActivity(name)!;
                span = request.Context;
                return node.Store.AppendToStreamAsync(Events.NewStream(), ExpectedVersion.NoStream, [Events.Make()], Ct);
            }

            var alone = Append("alone", out aloneSpan);
            await gate.Entered.WaitAsync(TimeSpan.FromSeconds(30), Ct);
            var b = Append("b", out bSpan);
            var c = Append("c", out cSpan);
            await WaitUntilAsync(() => node.Store.QueuedAppends == 2);
            gate.Release();
            await Task.WhenAll(alone, b, c);
        }

        bool Ours(Activity commit) => commit.TraceId == aloneSpan.TraceId || commit.Links.Any(l => l.Context == bSpan || l.Context == cSpan);
        await WaitUntilAsync(() => commits.Count(Ours) == 2);
        var ours = commits.Where(Ours).ToList();
        var single = Assert.Single(ours, a => a.TraceId == aloneSpan.TraceId);
        Assert.Equal(aloneSpan.SpanId, single.ParentSpanId);
        Assert.Empty(single.Links);
        Assert.Equal(1, single.GetTagItem("eventstore.group_commit.requests"));

        var shared = Assert.Single(ours, a => a != single);
        Assert.Equal(default, shared.ParentSpanId);
        Assert.NotEqual(bSpan.TraceId, shared.TraceId);
        Assert.NotEqual(cSpan.TraceId, shared.TraceId);
        Assert.Equal([bSpan, cSpan], shared.Links.Select(l => l.Context).OrderBy(l => l == cSpan));
        Assert.Equal(2, shared.GetTagItem("eventstore.group_commit.requests"));
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        deadline.CancelAfter(TimeSpan.FromSeconds(30));
        while (!condition()) await Task.Delay(5, deadline.Token);
    }

    private sealed class Poisoned : Marten.Events.Projections.IProjection
    {
        public Task ApplyAsync(Marten.IDocumentOperations operations, IReadOnlyList<JasperFx.Events.IEvent> events, CancellationToken cancellation) =>
            events.Any(e => e.EventTypeName == "poison.v1") ? throw new InvalidOperationException("poisoned") : Task.CompletedTask;
    }
}
