using System.Globalization;
using System.Net;
using System.Text.Json;
using Ledger.Api.ServiceDefaults;
using Ledger.EventStore;
using Ledger.EventStore.Hashing;
using Ledger.Production.Factories;
using Ledger.Production.Units;
using Ledger.ReadModels;
using Ledger.ReadModels.Tests.Support;
using Npgsql;

namespace Ledger.Reliability.Tests.Support;

/// <summary>An event as the ledger stores it, read back by the superuser.</summary>
internal sealed record StoredEvent(long Position, Guid EventId, string Serial, long Version, string Type, DateTimeOffset OccurredAt)
{
    public string Key => PlannedEvent.FactKey(Serial, Type, OccurredAt);
}

/// <summary>The ledger compared with the client's record.</summary>
internal sealed record IngestVerdict(
    int Acknowledged, int Found, IReadOnlyList<string> Lost, IReadOnlyList<string> Doubled, IReadOnlyList<string> ReceiptMismatches,
    IReadOnlyList<string> PartialBatches, int UnknownBatchesStored, int UnknownBatchesAbsent, IReadOnlyList<string> RefusedButStored,
    IReadOnlyList<string> Unplanned)
{
    public void AddTo(RunSummary summary)
    {
        summary.Add("acknowledged events found exactly once", Found);
        summary.Add("acknowledged events lost", Lost.Count);
        summary.Add("events doubled", Doubled.Count);
        summary.Add("receipts that disagree with the store", ReceiptMismatches.Count);
        summary.Add("batches partially stored", PartialBatches.Count);
        summary.Add("unknown-fate batches stored whole / absent", $"{UnknownBatchesStored} / {UnknownBatchesAbsent}");
        summary.Add("refused batches with events stored", RefusedButStored.Count);
        summary.Add("stored events nobody sent", Unplanned.Count);
    }

    /// <summary>Every acknowledged event present exactly once, no batch in part, nothing refused or unsent stored.</summary>
    public void AssertHolds()
    {
        Assert.True(Acknowledged > 0, "the ingest acknowledged events");
        Assert.True(Lost.Count == 0, "acknowledged events lost: " + string.Join(", ", Lost.Take(20)));
        Assert.True(Doubled.Count == 0, "events stored twice: " + string.Join(", ", Doubled.Take(20)));
        Assert.True(ReceiptMismatches.Count == 0, "receipts that disagree with the store: " + string.Join(", ", ReceiptMismatches.Take(20)));
        Assert.True(PartialBatches.Count == 0, "batches stored in part: " + string.Join(", ", PartialBatches.Take(20)));
        Assert.True(RefusedButStored.Count == 0, "refused batches with stored events: " + string.Join(", ", RefusedButStored.Take(20)));
        Assert.True(Unplanned.Count == 0, "stored events that no writer sent: " + string.Join(", ", Unplanned.Take(20)));
        Assert.Equal(Acknowledged, Found);
    }
}

/// <summary>Checks of the ledger's own database, run as the superuser after the faults.</summary>
internal static class LedgerCheck
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static async Task<List<StoredEvent>> ReadEventsAsync(NpgsqlDataSource superuser)
    {
        var events = new List<StoredEvent>();
        await using var command = superuser.CreateCommand(
            "select position, event_id, stream_id, stream_version, type, occurred_at from ledger.events order by position");
        await using var reader = await command.ExecuteReaderAsync(Ct);
        while (await reader.ReadAsync(Ct))
        {
            var type = UnitEvents.TryFindByStoredName(reader.GetString(4), out var known) ? known.ApiName : reader.GetString(4);
            events.Add(new StoredEvent(reader.GetInt64(0), reader.GetGuid(1), reader.GetString(2), reader.GetInt64(3), type,
                reader.GetFieldValue<DateTimeOffset>(5)));
        }

        return events;
    }

    /// <summary>
    /// The ledger against the client's record. <paramref name="ours"/> says which stored events the record covers (the
    /// units of this ingest), so that events the test wrote some other way are left out.
    /// </summary>
    public static IngestVerdict Compare(Recorder recorder, IReadOnlyList<StoredEvent> stored, Func<string, bool> ours)
    {
        var byKey = stored.Where(e => ours(e.Serial)).ToLookup(e => e.Key);
        List<string> lost = [], doubled = [], receipts = [], partial = [], refused = [];
        int acknowledged = 0, found = 0, unknownStored = 0, unknownAbsent = 0;
        var planned = new HashSet<string>(StringComparer.Ordinal);
        foreach (var batch in recorder.Batches)
        {
            var present = batch.Events.Select(e => byKey[e.Key].ToList()).ToList();
            foreach (var e in batch.Events) planned.Add(e.Key);
            foreach (var (e, rows) in batch.Events.Zip(present))
            {
                if (rows.Count > 1) doubled.Add($"{e.Key} x{rows.Count}");
            }

            switch (batch.Outcome)
            {
                case BatchOutcome.Acknowledged:
                    for (var i = 0; i < batch.Events.Count; i++)
                    {
                        acknowledged++;
                        var rows = present[i];
                        if (rows.Count == 0)
                        {
                            lost.Add(batch.Events[i].Key);
                            continue;
                        }

                        if (rows.Count == 1) found++;
                        var (eventId, version, position) = batch.Receipt![i];
                        var row = rows[0];
                        if (row.EventId != eventId || row.Version != version || row.Position != position
                            || (batch.EventIds[i] is { } sent && sent != row.EventId))
                        {
                            receipts.Add($"{batch.Events[i].Key}: receipt {eventId} v{version} @{position}, stored {row.EventId} v{row.Version} @{row.Position}");
                        }
                    }

                    break;
                case BatchOutcome.Unknown:
                    var stored1 = present.Count(p => p.Count > 0);
                    if (stored1 == batch.Events.Count) unknownStored++;
                    else if (stored1 == 0) unknownAbsent++;
                    else partial.Add($"batch {batch.Id}: {stored1} of {batch.Events.Count} stored");
                    break;
                case BatchOutcome.Refused:
                    if (present.Any(p => p.Count > 0)) refused.Add($"batch {batch.Id} ({batch.FinalStatus} {batch.FinalProblemType})");
                    break;
                case BatchOutcome.Pending:
                default:
                    // Never sent (the writers stopped): it must not be there.
                    if (present.Any(p => p.Count > 0)) partial.Add($"batch {batch.Id} was never settled yet has stored events");
                    break;
            }
        }

        var unplanned = stored.Where(e => ours(e.Serial) && !planned.Contains(e.Key)).Select(e => $"{e.Key} ({e.EventId})").ToList();
        return new IngestVerdict(acknowledged, found, lost, doubled, receipts, partial, unknownStored, unknownAbsent, refused, unplanned);
    }

    /// <summary>
    /// Each stream's versions run 1..n without a gap, its row in Marten's mt_streams says n, and every event's hash is the SHA-256 of its
    /// canonical envelope chained to the one before it (recomputed here from what PostgreSQL hands back). Returns the faults.
    /// </summary>
    public static async Task<List<string>> HashChainFaultsAsync(NpgsqlDataSource superuser)
    {
        var faults = new List<string>();
        await using var command = superuser.CreateCommand("""
            select e.stream_id, e.stream_version, e.event_id, e.type, e.data::text, e.metadata::text, e.occurred_at, e.recorded_at, e.hash,
                   s.version
            from ledger.events e join ledger.mt_streams s on s.id = e.stream_id
            order by e.stream_id, e.stream_version
            """);
        await using var reader = await command.ExecuteReaderAsync(Ct);
        string? stream = null;
        long expected = 0, streamVersion = 0;
        byte[] previous = [];
        void EndStream()
        {
            if (stream is null) return;
            if (streamVersion != expected - 1) faults.Add($"{stream}: the stream row says version {streamVersion}, the events end at {expected - 1}");
        }

        while (await reader.ReadAsync(Ct))
        {
            var id = reader.GetString(0);
            if (id != stream)
            {
                EndStream();
                stream = id;
                expected = 1;
                previous = [];
            }

            var version = reader.GetInt64(1);
            if (version != expected) faults.Add($"{id}: version {version} where {expected} was due");
            var hash = (byte[])reader[8];
            var recomputed = EventHasher.Hash(id, version, reader.GetGuid(2), reader.GetString(3), reader.GetString(4), reader.GetString(5),
                reader.GetFieldValue<DateTimeOffset>(6), reader.GetFieldValue<DateTimeOffset>(7), previous);
            if (!recomputed.AsSpan().SequenceEqual(hash)) faults.Add($"{id} v{version}: the stored hash is not the hash of the event");
            previous = hash;
            streamVersion = reader.GetInt64(9);
            expected = version + 1;
        }

        EndStream();
        return faults;
    }

    /// <summary>
    /// The ledger's own audit verification (POST /api/v1/audit/verify, the same verifier as `ledger verify`): every event
    /// hash, stream chain, sealed block and the block chain recompute to what was recorded. Waits (bounded) for the
    /// sealer to seal what the kills left unsealed, so the blocks cover every acknowledged event too.
    /// </summary>
    public static async Task VerifyAuditTrailAsync(LedgerService node, RunSummary summary)
    {
        using var auditor = node.CreateClient(node.AdminKey);
        var deadline = DateTime.UtcNow.AddMinutes(2);
        JsonElement report;
        while (true)
        {
            using var response = await auditor.PostAsync(new Uri("/api/v1/audit/verify", UriKind.Relative), content: null, Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
            report = document.RootElement.Clone();
            if (report.GetProperty("unsealedEvents").GetInt64() == 0 || DateTime.UtcNow > deadline) break;
            await Task.Delay(TimeSpan.FromSeconds(1), Ct);
        }

        summary.Add("audit verification (POST /api/v1/audit/verify)", report.GetProperty("ok").GetBoolean() ? "ok" : "FAILED");
        summary.Add("audit: events, streams, blocks checked", string.Create(CultureInfo.InvariantCulture,
            $"{report.GetProperty("eventsChecked").GetInt64()}, {report.GetProperty("streamsChecked").GetInt64()}, {report.GetProperty("blocksChecked").GetInt64()}"));
        summary.Add("audit: events not sealed", report.GetProperty("unsealedEvents").GetInt64());
        Assert.True(report.GetProperty("ok").GetBoolean(), "the audit verification failed: " + report.GetProperty("firstMismatch"));
        Assert.Equal(0, report.GetProperty("unsealedEvents").GetInt64());
    }

    /// <summary>Every read model table's rows, as sorted text, for comparing one state of the read models with another.</summary>
    public static async Task<Dictionary<string, string>> SnapshotReadModelsAsync(NpgsqlDataSource superuser)
    {
        var snapshot = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var table in DatabaseRoles.ReadModelTables)
        {
            // The table names are the read models' own constants.
            await using var command = superuser.CreateCommand($"select coalesce(string_agg(t::text, E'\\n' order by t::text), '') from {table} t");
            snapshot[table] = (string)(await command.ExecuteScalarAsync(Ct))!;
        }

        return snapshot;
    }

    /// <summary>
    /// Every question the read models answer, asked of the tables the daemons kept, against <see cref="Reference"/>: an
    /// in-memory fold of the whole feed that shares no code with the projections. Their totals also equal the feed's, so
    /// an event applied twice or skipped shows.
    /// </summary>
    public static async Task<List<string>> ReadModelsAgainstTheReferenceAsync(NpgsqlDataSource superuser)
    {
        await using var store = new Ledger.EventStore.EventStore(superuser);
        // The feed ends at the high-water mark: wait until it shows every committed event, so the reference is the whole
        // history (the projections, caught up, have applied all of it).
        await store.WaitForFeedAsync(await store.GetHeadPositionAsync(Ct), Ct);
        var feed = new List<RecordedEvent>();
        var cursor = FeedCursor.Start;
        for (var page = await store.ReadFeedAsync(cursor, 5000, cancellationToken: Ct); page.Events.Count > 0; page = await store.ReadFeedAsync(cursor, 5000, cancellationToken: Ct))
        {
            feed.AddRange(page.Events);
            cursor = page.Next;
        }

        var reference = Reference.Of(feed);
        var mismatches = new List<string>();
        void Compare<T>(string question, IReadOnlyList<T> expected, IReadOnlyList<T> actual)
        {
            if (!expected.SequenceEqual(actual)) mismatches.Add($"{question}: expected {expected.Count} rows, the read model has {actual.Count} (first difference: " +
                $"{expected.Zip(actual).Where(p => !Equals(p.First, p.Second)).Select(p => $"{p.First} vs {p.Second}").FirstOrDefault() ?? "in length"})");
        }

        var (from, to) = (new DateOnly(2025, 2, 1), new DateOnly(2025, 12, 31));
        long built = 0;
        foreach (var factory in new[] { FactorySeed.Lathrop, FactorySeed.Shanghai })
        {
            foreach (var bucket in new[] { CalendarBucket.Day, CalendarBucket.Month })
            {
                var rows = await FactoryThroughputQuery.GetAsync(superuser, factory, from, to, bucket, Ct);
                Compare($"{factory.Id} throughput by {bucket}", reference.Throughput(factory, from, to, bucket), rows);
                if (bucket == CalendarBucket.Day) built += rows.Sum(r => r.UnitsBuilt);
            }
        }

        var builtInFeed = feed.Count(e => e.Type == Production.Units.UnitEvents.UnitBuilt.StoredName);
        if (built != builtInFeed) mismatches.Add($"units built: the read model counts {built}, the feed holds {builtInFeed}");
        Compare("unit milestones", reference.UnitMilestones(), await MilestonesQuery.GetUnitMilestonesAsync(superuser, cancellationToken: Ct));
        Compare("first shipments", reference.FirstShipments(), await MilestonesQuery.GetFirstShipmentsAsync(superuser, cancellationToken: Ct));
        foreach (var grouping in new[] { DeploymentGrouping.Region, DeploymentGrouping.Country, DeploymentGrouping.Site })
        {
            Compare($"deployments by {grouping}", reference.Deployments(grouping, CalendarBucket.Quarter, from, to, null),
                await DeploymentsQuery.GetAsync(superuser, grouping, CalendarBucket.Quarter, from, to, cancellationToken: Ct));
            Compare($"in transit by {grouping}", reference.InTransitNow(grouping, null),
                await DeploymentsQuery.GetInTransitAsync(superuser, grouping, cancellationToken: Ct));
        }

        return mismatches;
    }

    /// <summary>Waits until every asynchronous projection has applied every stored event and is running.</summary>
    public static async Task CaughtUpAsync(LedgerService node, TimeSpan timeout)
    {
        using var admin = node.CreateClient(node.AdminKey);
        await Eventually.HoldsAsync(async () =>
        {
            using var response = await admin.GetAsync(new Uri("/api/v1/projections", UriKind.Relative), Ct);
            if (response.StatusCode != HttpStatusCode.OK) return false;
            using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
            return body.RootElement.EnumerateArray().All(p =>
                p.GetProperty("state").GetString() == "running" && p.GetProperty("lagEvents").GetInt64() == 0 && p.GetProperty("failure").ValueKind == JsonValueKind.Null);
        }, "every projection has applied every event", timeout);
    }

    /// <summary>
    /// Rebuilds every read model through the admin endpoints of <paramref name="node"/> (blue/green, as an operator
    /// would) and waits until each has swapped its fresh tables in.
    /// </summary>
    public static async Task RebuildAllAsync(LedgerService node, TimeSpan timeout)
    {
        using var admin = node.CreateClient(node.AdminKey);
        var names = new List<string>();
        using (var list = await admin.GetAsync(new Uri("/api/v1/projections", UriKind.Relative), Ct))
        {
            using var body = JsonDocument.Parse(await list.Content.ReadAsStringAsync(Ct));
            names.AddRange(body.RootElement.EnumerateArray().Select(p => p.GetProperty("name").GetString()!));
        }

        var requested = DateTimeOffset.UtcNow.AddSeconds(-1);
        foreach (var name in names)
        {
            using var response = await admin.PostAsync(new Uri($"/api/v1/projections/{name}/rebuild", UriKind.Relative), content: null, Ct);
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        }

        await Eventually.HoldsAsync(async () =>
        {
            using var response = await admin.GetAsync(new Uri("/api/v1/projections", UriKind.Relative), Ct);
            using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
            return body.RootElement.EnumerateArray().All(p =>
                p.GetProperty("rebuild").ValueKind == JsonValueKind.Null
                && p.GetProperty("lastRebuildFinishedAt") is { ValueKind: JsonValueKind.String } finished
                && finished.GetDateTimeOffset() > requested);
        }, "every read model has been rebuilt", timeout);
    }
}

internal static class Eventually
{
    /// <summary>Waits for a condition with a deadline (never a fixed sleep).</summary>
    public static async Task HoldsAsync(Func<Task<bool>> condition, string what, TimeSpan timeout, Func<string>? state = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"Timed out after {timeout.TotalSeconds} s waiting until {what}. {state?.Invoke()}");
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
    }
}
