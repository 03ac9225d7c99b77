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
/// versions, last hashes and already-stored event ids, then insert every accepted event into Marten's tables with one
/// set-based statement (decision 0008), plus one for what inline projections queued. A request refused for its version or its ids is left out
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

        var positions = await AppendAsync(connection, transaction, marten, accepted, recordedAt, cancellationToken);
        foreach (var (r, first, count) in acceptedBy)
        {
            var results = accepted.Skip(first).Take(count)
                .GroupBy(a => a.StreamId)
                .Select(g => new AppendResult(g.Key, g.Last().StreamVersion,
                    g.Select(a => new AppendedEvent(a.Event.EventId, a.StreamVersion, positions[a.Event.EventId])).ToList(), Replayed: false))
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
        var (locks, select, lookUp) = (Command(batch, Sql.AppendLockStreams[0]), Command(batch, Sql.AppendLockStreams[1]), Command(batch, Sql.AppendLockStreams[2]));
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

    private static NpgsqlBatchCommand Command(NpgsqlBatch batch, string sql)
    {
        var command = new NpgsqlBatchCommand(sql);
        batch.BatchCommands.Add(command);
        return command;
    }

    private static NpgsqlParameter<string?[]> TextArray(string name, string?[] values) =>
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
    /// RT2: every accepted event in one set-based insert into Marten's tables, in the batch's transaction (decision 0008).
    /// Inline projections are handed the events first, as Marten hands them over before its own append: what they read of
    /// a stream is its committed history without this batch. What they queue runs after the insert, in the same
    /// transaction (one more round trip when they queued anything). The pipeline commits.
    /// </summary>
    private static async Task<Dictionary<Guid, long>> AppendAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, MartenEvents marten, List<AcceptedEvent> accepted,
        DateTimeOffset recordedAt, CancellationToken cancellationToken)
    {
        await using var session = marten.InlineProjections.Count == 0
            ? null
            : marten.Store.LightweightSession(SessionOptions.ForTransaction(transaction));
        if (session is not null)
        {
            var events = accepted.Select(a => marten.Build(a.Event, a.StreamId, a.StreamVersion, a.Hash, recordedAt)).ToList();
            foreach (var projection in marten.InlineProjections) await projection.ApplyAsync(session, events, cancellationToken);
        }

        var positions = await InsertAsync(connection, transaction, marten, accepted, recordedAt, cancellationToken);
        if (session is not null) await session.SaveChangesAsync(cancellationToken);
        var missing = accepted.FirstOrDefault(a => !positions.ContainsKey(a.Event.EventId));
        if (missing is not null) throw new InvalidOperationException($"The insert returned no position for event {missing.Event.EventId}.");
        return positions;
    }

    private static async Task<Dictionary<Guid, long>> InsertAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, MartenEvents marten, List<AcceptedEvent> accepted,
        DateTimeOffset recordedAt, CancellationToken cancellationToken)
    {
        var streams = new List<(string Id, long Version)>();
        foreach (var a in accepted)
        {
            // A stream's events are consecutive in the batch (one request, one entry per stream): its last one gives its version.
            if (streams.Count > 0 && string.Equals(streams[^1].Id, a.StreamId, StringComparison.Ordinal)) streams[^1] = (a.StreamId, a.StreamVersion);
            else streams.Add((a.StreamId, a.StreamVersion));
        }

        var n = accepted.Count;
        var (ids, streamIds, versions, data, types, dotNetTypes, correlationIds, causationIds, headers, userNames) =
            (new Guid[n], new string[n], new long[n], new string[n], new string[n], new string?[n], new string?[n], new string?[n], new string[n], new string?[n]);
        for (var i = 0; i < n; i++)
        {
            var (e, metadata) = (accepted[i].Event, accepted[i].Event.Source.Metadata ?? EventMetadata.None);
            (ids[i], streamIds[i], versions[i], data[i], types[i]) = (e.EventId, accepted[i].StreamId, accepted[i].StreamVersion, e.Source.Data, e.Source.Type);
            (dotNetTypes[i], correlationIds[i], causationIds[i], userNames[i]) = (marten.DotNetTypeName(e.Source.Type), metadata.CorrelationId, metadata.CausationId, metadata.Actor);
            headers[i] = MartenEvents.Headers(accepted[i].Hash, e.MetadataJson, e.OccurredAt);
        }

        await using var batch = new NpgsqlBatch(connection, transaction);
        var (upsertStreams, insertEvents) = (Command(batch, Sql.AppendEvents[0]), Command(batch, Sql.AppendEvents[1]));
        Command(batch, MartenEvents.NotifyAppended);
        upsertStreams.Parameters.Add(TextArray("stream_ids", [.. streams.Select(s => s.Id)]));
        upsertStreams.Parameters.Add(new NpgsqlParameter<long[]>("stream_versions", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { TypedValue = [.. streams.Select(s => s.Version)] });
        var p = insertEvents.Parameters;
        p.Add(new NpgsqlParameter<Guid[]>("event_ids", NpgsqlDbType.Array | NpgsqlDbType.Uuid) { TypedValue = ids });
        p.Add(TextArray("event_stream_ids", streamIds));
        p.Add(new NpgsqlParameter<long[]>("versions", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { TypedValue = versions });
        p.Add(TextArray("data", data));
        p.Add(TextArray("types", types));
        p.Add(TextArray("dotnet_types", dotNetTypes));
        p.Add(TextArray("correlation_ids", correlationIds));
        p.Add(TextArray("causation_ids", causationIds));
        p.Add(TextArray("headers", headers));
        p.Add(TextArray("user_names", userNames));
        p.Add(new NpgsqlParameter<DateTimeOffset>("recorded_at", NpgsqlDbType.TimestampTz) { TypedValue = recordedAt });

        var positions = new Dictionary<Guid, long>(n);
        // The reader starts at the first statement that returns rows: the insert's (the streams' upsert and the notification
        // return none).
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken)) positions[reader.GetGuid(0)] = reader.GetInt64(1);
        return positions;
    }
}
