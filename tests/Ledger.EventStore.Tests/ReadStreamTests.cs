using Ledger.EventStore.Tests.Support;
using Ledger.Testing;

namespace Ledger.EventStore.Tests;

public sealed class ReadStreamTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>, IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2025, 2, 11, 0, 0, 0, TimeSpan.Zero);
    private readonly ManualClock _clock = new(T0.AddYears(1));
    private Node _node = null!;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _node = await Node.StartAsync(database.ConnectionString, o => o.TimeProvider = _clock);

    public ValueTask DisposeAsync() => _node.DisposeAsync();

    [Fact]
    public async Task A_stream_reads_forward_from_a_version()
    {
        var stream = await StreamOfFiveDaysAsync();

        var events = await _node.Store.ReadStreamAsync(stream, fromVersion: 3, cancellationToken: Ct);

        Assert.Equal([3L, 4L, 5L], events.Select(e => e.StreamVersion));
    }

    [Fact]
    public async Task A_stream_reads_as_of_a_version()
    {
        var stream = await StreamOfFiveDaysAsync();

        var events = await _node.Store.ReadStreamAsync(stream, toVersion: 2, cancellationToken: Ct);

        Assert.Equal([1L, 2L], events.Select(e => e.StreamVersion));
    }

    [Fact]
    public async Task A_stream_reads_as_of_when_things_happened()
    {
        var stream = await StreamOfFiveDaysAsync();

        // Any offset: the moment counts, not how it is written.
        var events = await _node.Store.ReadStreamAsync(stream, asOf: T0.AddDays(2).AddHours(1).ToOffset(TimeSpan.FromHours(8)), cancellationToken: Ct);

        Assert.Equal([1L, 2L, 3L], events.Select(e => e.StreamVersion));
        Assert.Empty(await _node.Store.ReadStreamAsync(stream, asOf: T0.AddTicks(-10), cancellationToken: Ct));
    }

    [Fact]
    public async Task A_stream_reads_as_of_what_the_ledger_had_recorded()
    {
        var stream = Events.NewStream();
        var recordedFirst = _clock.Now;
        await _node.Store.AppendToStreamAsync(stream, ExpectedVersion.Any, Events.Many(2), Ct);
        _clock.Now = recordedFirst.AddHours(1);
        await _node.Store.AppendToStreamAsync(stream, ExpectedVersion.Any, Events.Many(2), Ct);

        var known = await _node.Store.ReadStreamAsync(stream, asOf: recordedFirst.AddMinutes(30), axis: TimeAxis.RecordedAt, cancellationToken: Ct);

        Assert.Equal([1L, 2L], known.Select(e => e.StreamVersion));
    }

    [Fact]
    public async Task Several_streams_read_in_one_call_each_in_version_order()
    {
        var (a, b, missing) = (await StreamOfFiveDaysAsync(), await StreamOfFiveDaysAsync(), Events.NewStream());

        var streams = await _node.Store.ReadStreamsAsync([a, b, missing], Ct);

        Assert.Equal([1L, 2L, 3L, 4L, 5L], streams[a].Select(e => e.StreamVersion));
        Assert.Equal([1L, 2L, 3L, 4L, 5L], streams[b].Select(e => e.StreamVersion));
        Assert.All(streams[b], e => Assert.Equal(b, e.StreamId));
        Assert.Empty(streams[missing]);
    }

    [Fact]
    public async Task A_writer_reads_the_streams_it_decides_on_as_they_are_stored()
    {
        var (a, b, missing) = (await StreamOfFiveDaysAsync(), await StreamOfFiveDaysAsync(), Events.NewStream());
        var stored = await _node.Store.ReadStreamsAsync([a, b, missing], Ct);

        var several = await _node.Store.ReadStreamsToDecideAsync([a, b, missing], Ct);
        var one = await _node.Store.ReadStreamsToDecideAsync([b], Ct);

        foreach (var (stream, read) in new[] { (a, several[a]), (b, several[b]), (b, one[b]) })
        {
            Assert.Equal(
                stored[stream].Select(e => (e.EventId, e.StreamId, e.StreamVersion, e.Type, e.Data, e.OccurredAt)),
                read.Select(e => (e.EventId, e.StreamId, e.StreamVersion, e.Type, e.Data, e.OccurredAt)));
        }

        Assert.Empty(several[missing]);
        Assert.Equal([b], one.Keys);
    }

    [Fact]
    public async Task An_unknown_stream_reads_empty_at_version_0()
    {
        var stream = Events.NewStream();

        Assert.Empty(await _node.Store.ReadStreamAsync(stream, cancellationToken: Ct));
        Assert.Equal(0, await _node.Store.GetStreamVersionAsync(stream, Ct));
    }

    private async Task<string> StreamOfFiveDaysAsync()
    {
        var stream = Events.NewStream();
        var events = Enumerable.Range(0, 5).Select(d => Events.Make(occurredAt: T0.AddDays(d))).ToArray();
        await _node.Store.AppendToStreamAsync(stream, ExpectedVersion.NoStream, events, Ct);
        return stream;
    }
}
