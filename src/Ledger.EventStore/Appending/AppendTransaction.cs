using JasperFx.Events;
using Ledger.EventStore.Hashing;
using Ledger.EventStore.Schema;
using Marten.Services;
using Npgsql;
using NpgsqlTypes;

namespace Ledger.EventStore.Appending;

/// <summary>The outcome of one request inside a batch: its results, or why it was refused.</summary>
internal readonly record struct RequestOutcome(PreparedRequest Request, IReadOnlyList<AppendResult>? Results, Exception? Error);

/// <summary>
/// Appends a batch of independent requests in one transaction with two round trips: lock the streams and look up their
/// versions, last hashes and already-stored event ids (our SQL), then append every accepted event through one Marten
/// session on the same transaction (Marten's quick append). A request refused for its version or its ids is left out
/// before Marten sees it: it never aborts the transaction, so it never fails its neighbours, and it draws no sequence
/// number, so it leaves no hole for the async daemon to wait out (decision 0006, Q1).
/// </summary>
internal static class AppendTransaction
{
    private sealed class StreamState(long version, byte[]? lastHash)
    {
        public long Version { get; set; } = version;
        public byte[]? LastHash { get; set; } = lastHash;
    }

    private sealed record StoredEvent(Guid EventId, string StreamId, long StreamVersion, long Position, string Type, string Data, DateTimeOffset OccurredAt);

    private sealed record AcceptedEvent(PreparedEvent Event, string StreamId, long StreamVersion, byte[] Hash);

    public static async Task<IReadOnlyList<RequestOutcome>> ExecuteAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, IReadOnlyList<PreparedRequest> requests,
        EventStoreOptions options, MartenEvents marten, CancellationToken cancellationToken)
    {
        var (streams, stored) = await LockAndLookUpAsync(connection, transaction, requests, cancellationToken);
        var recordedAt = Microseconds.Truncate(options.TimeProvider.GetUtcNow());

        var outcomes = new RequestOutcome[requests.Count];
        var accepted = new List<AcceptedEvent>();
        var acceptedBy = new List<(int Request, int First, int Count)>();
        for (var r = 0; r < requests.Count; r++)
        {
            var request = requests[r];
            if (request.EventIds.Any(stored.ContainsKey))
            {
                outcomes[r] = Replay(request, stored);
                continue;
            }

            var refusal = request.Streams
                .Where(s => !s.ExpectedVersion.IsSatisfiedBy(streams[s.StreamId].Version))
                .Select(s => new WrongExpectedVersionException(s.StreamId, s.ExpectedVersion, streams[s.StreamId].Version))
                .FirstOrDefault();
            if (refusal is not null)
            {
                outcomes[r] = new RequestOutcome(request, null, refusal);
                continue;
            }

            var first = accepted.Count;
            foreach (var stream in request.Streams)
            {
                var state = streams[stream.StreamId];
                foreach (var e in stream.Events)
                {
                    state.Version++;
                    var hash = EventHasher.Hash(stream.StreamId, state.Version, e.EventId, e.Source.Type, e.CanonicalData,
                        e.CanonicalMetadata, e.OccurredAt, recordedAt, state.LastHash);
                    state.LastHash = hash;
                    accepted.Add(new AcceptedEvent(e, stream.StreamId, state.Version, hash));
                }
            }

            acceptedBy.Add((r, first, accepted.Count - first));
        }

        if (accepted.Count == 0) return outcomes;

        var recorded = await AppendAsync(transaction, marten, accepted, recordedAt, cancellationToken);

        var positions = recorded.ToDictionary(e => e.EventId);
        foreach (var (r, first, count) in acceptedBy)
        {
            var results = accepted.Skip(first).Take(count)
                .GroupBy(a => a.StreamId)
                .Select(g => new AppendResult(g.Key, g.Last().StreamVersion,
                    g.Select(a => new AppendedEvent(a.Event.EventId, a.StreamVersion, positions[a.Event.EventId].Position)).ToList(), Replayed: false))
                .ToList();
            outcomes[r] = new RequestOutcome(requests[r], results, null);
        }

        return outcomes;
    }

    private static async Task<(Dictionary<string, StreamState> Streams, Dictionary<Guid, StoredEvent> Stored)> LockAndLookUpAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, IReadOnlyList<PreparedRequest> requests, CancellationToken cancellationToken)
    {
        var streamIds = requests.SelectMany(r => r.StreamIds).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        var eventIds = requests.SelectMany(r => r.EventIds).ToArray();

        await using var batch = new NpgsqlBatch(connection, transaction);
        var (locks, select, lookUp) = (Command(batch, 0), Command(batch, 1), Command(batch, 2));
        locks.Parameters.Add(TextArray("stream_ids", streamIds));
        select.Parameters.Add(TextArray("stream_ids", streamIds));
        lookUp.Parameters.Add(new NpgsqlParameter<Guid[]>("event_ids", NpgsqlDbType.Array | NpgsqlDbType.Uuid) { TypedValue = eventIds });
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);

        // The lock statement returns one row per lock; skip past it to the stream rows.
        await reader.NextResultAsync(cancellationToken);
        var streams = new Dictionary<string, StreamState>(streamIds.Length, StringComparer.Ordinal);
        while (await reader.ReadAsync(cancellationToken))
        {
            streams[reader.GetString(0)] = new StreamState(reader.GetInt64(1), reader.IsDBNull(2) ? null : reader.GetFieldValue<byte[]>(2));
        }

        await reader.NextResultAsync(cancellationToken);
        var stored = new Dictionary<Guid, StoredEvent>();
        while (await reader.ReadAsync(cancellationToken))
        {
            var e = new StoredEvent(reader.GetGuid(0), reader.GetString(1), reader.GetInt64(2), reader.GetInt64(3),
                reader.GetString(4), reader.GetString(5), reader.GetFieldValue<DateTimeOffset>(6));
            stored[e.EventId] = e;
        }

        if (streams.Count != streamIds.Length)
            throw new InvalidOperationException("A stream of the batch was not read back; the stream query is not as the store wrote it.");
        return (streams, stored);
    }

    private static NpgsqlBatchCommand Command(NpgsqlBatch batch, int index)
    {
        var command = new NpgsqlBatchCommand(Sql.AppendLockStreams[index]);
        batch.BatchCommands.Add(command);
        return command;
    }

    private static NpgsqlParameter<string[]> TextArray(string name, string[] values) =>
        new(name, NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = values };

    /// <summary>
    /// A request some of whose ids are already stored is a retry. It is answered with the original result only if every
    /// event is stored exactly as sent, in the same streams and order; anything else would silently change its meaning.
    /// </summary>
    private static RequestOutcome Replay(PreparedRequest request, Dictionary<Guid, StoredEvent> stored)
    {
        var results = new List<AppendResult>(request.Streams.Count);
        foreach (var stream in request.Streams)
        {
            var appended = new List<AppendedEvent>(stream.Events.Count);
            foreach (var e in stream.Events)
            {
                var mismatch = Mismatch(stream.StreamId, e, stored.GetValueOrDefault(e.EventId), appended);
                if (mismatch is not null) return new RequestOutcome(request, null, new EventIdConflictException(e.EventId, mismatch));
                var original = stored[e.EventId];
                appended.Add(new AppendedEvent(e.EventId, original.StreamVersion, original.Position));
            }

            results.Add(new AppendResult(stream.StreamId, appended[^1].StreamVersion, appended, Replayed: true));
        }

        return new RequestOutcome(request, results, null);
    }

    private static string? Mismatch(string streamId, PreparedEvent sent, StoredEvent? original, List<AppendedEvent> before)
    {
        if (original is null)
            return "other events of the same append are already stored without it (the append was not a retry of one earlier append)";
        if (!string.Equals(original.StreamId, streamId, StringComparison.Ordinal))
            return $"belongs to stream '{original.StreamId}', not '{streamId}'";
        if (before.Count > 0 && original.StreamVersion != before[^1].StreamVersion + 1)
            return "was stored at another place in its stream than this append puts it";
        if (!string.Equals(original.Type, sent.Source.Type, StringComparison.Ordinal))
            return $"has type '{original.Type}', not '{sent.Source.Type}'";
        if (original.OccurredAt != sent.OccurredAt)
            return $"occurred at {original.OccurredAt:O}, not {sent.OccurredAt:O}";
        if (!CanonicalJson.Canonicalize(original.Data).AsSpan().SequenceEqual(sent.CanonicalData))
            return "has different data";
        return null;
    }

    /// <summary>
    /// RT2: one Marten session on the batch's transaction, one quick append per accepted stream with the version the
    /// stream is at after it (Marten checks it again under its row lock; ours was taken first, so it holds). Marten does
    /// not commit: the pipeline does, after the inline projections.
    /// </summary>
    private static async Task<List<RecordedEvent>> AppendAsync(
        NpgsqlTransaction transaction, MartenEvents marten, List<AcceptedEvent> accepted, DateTimeOffset recordedAt,
        CancellationToken cancellationToken)
    {
        var built = new List<(AcceptedEvent Accepted, IEvent Event)>(accepted.Count);
        await using (var session = marten.Store.LightweightSession(SessionOptions.ForTransaction(transaction)))
        {
            foreach (var stream in accepted.GroupBy(a => a.StreamId, StringComparer.Ordinal))
            {
                var events = stream.Select(a => (Accepted: a, Event: MartenEvents.Build(a.Event, a.Hash, recordedAt))).ToList();
                session.Events.Append(stream.Key, stream.Last().StreamVersion, events.Select(e => (object)e.Event).ToArray());
                // Marten names an IEvent by its CLR type when it is appended (EventPayload here): the stored names are ours.
                foreach (var (a, e) in events) marten.Name(e, a.Event.Source.Type);
                built.AddRange(events);
            }

            await session.SaveChangesAsync(cancellationToken);
        }

        var recorded = new List<RecordedEvent>(built.Count);
        foreach (var (a, e) in built)
        {
            if (e.Sequence <= 0) throw new InvalidOperationException($"Marten returned no position for event {a.Event.EventId}.");
            recorded.Add(new RecordedEvent(e.Sequence, a.Event.EventId, a.StreamId, a.StreamVersion, a.Event.Source.Type,
                a.Event.Source.Data, a.Event.MetadataJson, a.Event.OccurredAt, recordedAt, a.Hash));
        }

        recorded.Sort(static (x, y) => x.Position.CompareTo(y.Position));
        return recorded;
    }
}
