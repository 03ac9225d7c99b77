using JasperFx;
using JasperFx.Events;
using Marten;
using Npgsql;
using Weasel.Core;

namespace Ledger.EventStore;

/// <summary>
/// Every decision about Marten's event store in one place (issue 12, docs/decisions/0006, "Configuration"): the service
/// (from 0006's landing step 2 on), the tests and the script generator all configure Marten through
/// <see cref="Configure"/>, so the schema Marten expects is the one the committed migrations create. The store stays free
/// of Megapack knowledge: the stored event type names
/// come from the caller.
/// </summary>
public static class MartenSetup
{
    /// <summary>The schema of Marten's tables: beside the ledger's own, migrated by the same command.</summary>
    public const string SchemaName = "ledger";

    /// <summary>
    /// The unique index Marten puts on event ids (<see cref="Marten.Events.IEventStoreOptions.EnableUniqueIndexOnEventId"/>):
    /// a repeated event id is refused with 23505 on this constraint.
    /// </summary>
    public const string EventIdIndex = "idx_mt_events_event_id";

    /// <summary>The name of a read model's shard in Marten's daemon: its row in <c>mt_event_progression</c>.</summary>
    public static string ShardName(string projectionName) => new JasperFx.Events.Projections.ShardName(projectionName).Identity;

    /// <summary>
    /// The key of the session advisory lock by which a node owns a read model in HotCold (Marten's per-shard lock over the
    /// schema and the default base lock id, which <see cref="Configure"/> leaves alone): whoever holds it runs the read
    /// model, which is how an operator or a test tells the owner apart in <c>pg_locks</c>.
    /// </summary>
    public static long OwnershipLockKey(string projectionName) =>
        JasperFx.Events.Daemon.ProjectionLockIds.Compute(SchemaName, new JasperFx.Events.Projections.ShardName(projectionName), new StoreOptions().Projections.DaemonLockId);

    /// <summary>
    /// How long the session holding a node's ownership locks may stay silent before PostgreSQL ends it, releasing the
    /// locks (its <c>idle_session_timeout</c>; issue 13): a frozen owner's read models move to another node this long after
    /// its last heartbeat, plus up to one <see cref="LeadershipPolling"/>. Five heartbeats, so that a node that is merely
    /// slow (a GC pause, a starved thread pool on a busy host) keeps them.
    /// </summary>
    public static readonly TimeSpan OwnershipTimeout = TimeSpan.FromSeconds(5);

    /// <summary>How often the session holding a node's ownership locks is sent a query (<c>select 1</c>).</summary>
    public static readonly TimeSpan OwnershipHeartbeat = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How often each node's coordinator tries to take the read models it does not own (Marten's default is 5 s): with
    /// <see cref="OwnershipTimeout"/> it bounds a frozen owner's handover at about 7.5 s, under the 10 s of issue 13.
    /// </summary>
    public static readonly TimeSpan LeadershipPolling = TimeSpan.FromSeconds(2);

    /// <summary>
    /// The least time between two detections of Marten's high-water agent (<see cref="Projections.HighWaterWakeup"/>;
    /// issue 15, P4): a notification of an append wakes the agent at once when the previous detection is this long ago,
    /// else when it is. Under load the mark then moves at most fifty times a second, in steps of what committed meanwhile,
    /// instead of after every commit (Marten's own wake-up: every 14-25 ms at 1,000 single-event appends a second); a
    /// quiet store's first append is detected at once. 10 and 50 ms measured alike with <see cref="ConfigureShard"/>
    /// (docs/benchmarks.md, "Issue 15, P4: where a single event's lag went").
    /// </summary>
    public static readonly TimeSpan HighWaterSpacing = TimeSpan.FromMilliseconds(20);

    /// <summary>
    /// How Marten's daemon runs each of our read models' shards (issue 15, P4), passed to <c>Projections.Add</c> for each.
    /// </summary>
    /// <remarks>
    /// <c>MaximumHopperSize</c> bounds the positions a shard may have loaded and not yet committed (JasperFx.Events
    /// 2.102.0, <c>SubscriptionAgent</c>: it loads another page at every move of the mark while fewer than that, and
    /// twice its batch size, are in flight). At the default (5,000; in effect 2 x 500) a shard under single-event load
    /// loaded one page per move of the mark, ~17 events, and queued each as a batch of its own: each batch cost as long as
    /// the next move took to come, so the queue filled to ~1,000 positions and stayed full, a steady second behind the
    /// mark at 1,000 events/s (docs/benchmarks.md). At 1 a shard loads its next page only once its last batch committed,
    /// and that page holds everything the mark passed meanwhile, up to the batch size (500): the busier the shard, the
    /// larger its batches, and no queue forms. What it could cost: a page's load no longer overlaps the previous batch's
    /// apply (a catch-up after downtime; rebuilds replay in bulk, ProjectionRebuild); the probe's catch-ups measured no
    /// loss. Which events a shard is handed,
    /// their order, and the progression it commits are unchanged.
    /// </remarks>
    /// <param name="options">The shard's options.</param>
    public static void ConfigureShard(JasperFx.Events.Projections.AsyncOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.MaximumHopperSize = 1;
    }

    /// <summary>
    /// Configures <paramref name="options"/> for the ledger's event store on <paramref name="dataSource"/>.
    /// </summary>
    /// <param name="options">Marten's options, e.g. from <c>AddMarten(options => ...)</c> or <c>DocumentStore.For</c>.</param>
    /// <param name="dataSource">The process's data source (<see cref="EventStoreDataSource"/>: its idle-in-transaction
    /// timeout and auto-prepare setting hold for Marten's connections too).</param>
    /// <param name="eventTypeNames">Each event record and the name it is stored under (<c>unit-built.v1</c>), which never
    /// changes once events exist.</param>
    public static void Configure(StoreOptions options, NpgsqlDataSource dataSource, IReadOnlyDictionary<Type, string> eventTypeNames)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(dataSource);
        ArgumentNullException.ThrowIfNull(eventTypeNames);

        options.Connection(dataSource);
        options.DatabaseSchemaName = SchemaName;
        // The schema comes only from the numbered migrations (`ledger migrate`, one run at a time across nodes). Marten's
        // own CreateOrUpdate drops columns and indexes it does not know (0006, Q3): a running service never alters it.
        options.AutoCreateSchemaObjects = AutoCreate.None;
        // Marten's default is 5 s, shorter than the waits on stream locks that appends already tolerate under Npgsql's
        // default of 30 s.
        options.CommandTimeout = 30;
        options.UseSystemTextJsonForSerialization(casing: Casing.CamelCase);

        var events = options.Events;
        events.StreamIdentity = StreamIdentity.AsString;
        // Despite its name this writes the IEvent.Timestamp the client set (0006, Q2): recorded-at comes from the service's
        // clock, independent of the session time zone, and is known before the insert so the hash can cover it.
        events.AppendMode = EventAppendMode.QuickWithServerTimestamps;
        // Without it a repeated event id is stored twice, silently (CRITTER-STACK.md).
        events.EnableUniqueIndexOnEventId = true;
        events.MetadataConfig.CorrelationIdEnabled = true;
        events.MetadataConfig.CausationIdEnabled = true;
        events.MetadataConfig.HeadersEnabled = true;
        events.MetadataConfig.UserNameEnabled = true;
        // A backstop for any Marten-native appender: the loser of a race waits and fails before drawing a sequence number,
        // so it leaves no hole that would stall the async projections (0006, Q1: 138 holes from 200 losers without it).
        events.UseExclusiveLockOnConcurrentAppends = true;
        // Every append of the store notifies as it commits (MartenEvents.NotifyAppended); what the notifications wake is the
        // store's own HighWaterWakeup, set as each daemon is built (OwnershipCoordinator, EventStore's feed detection).
        // Marten's (this option) would replace it there, and woke the agent at every notification (HighWaterSpacing).
        events.UseListenNotifyForEventAppends = false;
        // HotCold leadership on a session-scoped advisory lock: the transaction-scoped default keeps the leader idle in a
        // transaction, which our idle-in-transaction timeout ends, and two nodes then ran one shard at once (0006, Q8).
        events.UseAdvisoryLockTransaction = false;
        foreach (var (type, name) in eventTypeNames) events.MapEventType(type, name);

        var projections = options.Projections;
        // A failing projection stops at the failing batch, as today; Marten's defaults would skip the events into a dead
        // letter table silently (0006, Q4).
        projections.Errors.SkipApplyErrors = false;
        projections.Errors.SkipSerializationErrors = false;
        projections.Errors.SkipUnknownEvents = false;
        // No committed event is ever skipped: gaps are skipped only on the evidence that no live transaction can still fill
        // them, with no time cap (0006, Q5). Stated here, although they are Marten's defaults, because changing either loses
        // events silently. The evidence, not the threshold, protects committed events, so the threshold can be short.
        projections.UseTransactionEvidenceForGapSkipping = true;
        projections.SkipStaleGapsDespiteLiveTransactionsAfter = null;
        projections.StaleSequenceThreshold = TimeSpan.FromMilliseconds(500);
        // Every node runs the daemon; one at a time owns each projection, on a session-scoped advisory lock (above), and
        // another takes over when its process dies (0006, Q8) or stops answering: the store's coordinator holds the locks
        // on a session that PostgreSQL ends after OwnershipTimeout of silence (Projections.OwnershipLock, issue 13).
        projections.AsyncMode = JasperFx.Events.Daemon.DaemonMode.HotCold;
        // The daemon records each shard's agent status and the failure it paused on in its progression row (the columns
        // exist whether or not this is on). The integration subscriptions have no row of ours, so this is how any node sees
        // one paused on a failing batch (ProjectionAdmin.GetSubscriptionStatusAsync). Written only at a start, pause or
        // stop (Marten's periodic heartbeats stay off), update-only, on a connection of its own: it never touches the
        // progression's position, and a batch's guarded update and progress fence lock the row before it.
        events.EnableExtendedProgressionTracking = true;
        projections.LeadershipPollingTime = (int)LeadershipPolling.TotalMilliseconds;
    }

    /// <summary>
    /// The SQL that creates Marten's schema objects for <see cref="Configure"/>'s configuration, as Marten renders it,
    /// headed by a comment naming the Marten version. It needs no server: the committed migration
    /// <c>0004_marten_events.sql</c> is this text (docs/operations.md, "Marten's schema").
    /// </summary>
    /// <param name="eventTypeNames">As for <see cref="Configure"/>.</param>
    public static string CreationScript(IReadOnlyDictionary<Type, string> eventTypeNames)
    {
        // Never opened: Marten renders the script without a connection.
        using var unused = NpgsqlDataSource.Create("Host=127.0.0.1;Database=unused");
        using var store = DocumentStore.For(options => Configure(options, unused, eventTypeNames));
        var version = typeof(DocumentStore).Assembly
            .GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().Single().InformationalVersion.Split('+')[0];
        // ToDatabaseScript, not WriteCreationScriptToFile: in 9.62.0 the latter returned before the file was written
        // (four runs here wrote 0, 16,593, 0 and 8,401 of its 26,792 bytes).
        return $"-- Marten {version}: its event store schema for Ledger.EventStore.MartenSetup's configuration.\n" +
               "-- Generated by `ledger migrate --marten-script FILE` (docs/operations.md, \"Marten's schema\"); never edited by hand.\n\n" +
               store.Storage.ToDatabaseScript().ReplaceLineEndings("\n");
    }
}
