using System.Data;
using JasperFx.Events.Daemon;
using JasperFx.Events.Projections;
using Ledger.Api.ServiceDefaults.Messaging;
using Ledger.EventStore.Projections;
using Ledger.EventStore.Schema;
using Ledger.Production.Units;
using Marten;
using Npgsql;
using Wolverine;
using Wolverine.Marten.Subscriptions;

namespace Ledger.Api.Features.Integration.Milestones;

/// <summary>How often a factory's builds make a milestone; 1,000 in the service, smaller only in tests.</summary>
/// <param name="Every">Units between milestones.</param>
internal sealed record MilestoneSettings(long Every = 1000);

/// <summary>
/// The Wolverine subscription <c>integration-milestones</c> (issue 13; docs/decisions/0007, "FactoryMilestoneReached from
/// the milestones projection"): counts each factory's builds from the committed feed and publishes
/// <see cref="FactoryMilestoneReached"/> once per factory and multiple of 1,000.
/// </summary>
/// <remarks>
/// <para>A <see cref="BatchSubscription"/> and not a Marten projection: Marten's daemon flushes no messages a plain
/// projection publishes (0007: rows stranded, never delivered). Here <c>operations</c> is the daemon batch's session and
/// Wolverine's outbox is enlisted in it, so this batch's writes (counted builds, counts, recorded milestones), its
/// message envelopes and Marten's move of the subscription's progression commit in one transaction, or none of them does;
/// the messages are sent only after that commit.</para>
/// <para>Once per milestone: state is read as committed by earlier batches (a shard's batches are serial) and the batch
/// folded in memory, as the read models do. Every counted build is kept by feed position, so a range handed over again
/// (a retried batch, a rewound progression) counts nothing twice. Marten's guarded progression update does not stop a
/// stale owner's batch (9.62.0 commits it although the update matches no row: RebuildTests, and
/// MilestonesNodesTests without the checks below delivered the milestone twice), so the batch guards itself: its builds'
/// positions are a primary key, the counts move by compare-and-set and a milestone is a primary key. A batch that lands
/// after another node applied its range fails whole (23505 or 40001), its messages with it, and its retry finds the range
/// counted. The read models' rebuilds never touch this shard or its tables.</para>
/// <para>Which unit: the one ranked nth by (occurredAt, position), as the milestones read model ranks, among the builds
/// recorded up to the one that took the factory to n. A build recorded later with an earlier occurredAt can change the read
/// model's answer afterwards; the message, already published, stays as it was (docs/integration-events.md).</para>
/// </remarks>
internal sealed class MilestoneSubscription : BatchSubscription
{
    /// <summary>The subscription's name: its shard in Marten's daemon is <c>integration-milestones:All</c>.</summary>
    public const string Name = "integration-milestones";

    private static readonly string ReadBuilds = Read("integration_milestones_read_builds.sql");
    private static readonly string ReadState = Read("integration_milestones_read_state.sql");
    private static readonly string Rank = Read("integration_milestones_rank.sql");
    private static readonly string InsertBuilds = Read("integration_milestones_insert_builds.sql");
    private static readonly string Count = Read("integration_milestones_count.sql");
    private static readonly string Record = Read("integration_milestones_record.sql");

    private readonly NpgsqlDataSource _dataSource;
    private readonly IntegrationPublisher _publisher;
    private readonly long _every;

    public MilestoneSubscription(NpgsqlDataSource dataSource, MilestoneSettings settings, IntegrationPublisher publisher) : base(Name)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.Every, 1);
        _dataSource = dataSource ?? throw new ArgumentNullException(nameof(dataSource));
        _publisher = publisher ?? throw new ArgumentNullException(nameof(publisher));
        _every = settings.Every;
        IncludeType<UnitBuilt>();
    }

    /// <inheritdoc />
    public override async Task ProcessEventsAsync(
        EventRange page, ISubscriptionController controller, IDocumentOperations operations, IMessageBus bus, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(page);
        ArgumentNullException.ThrowIfNull(operations);
        ArgumentNullException.ThrowIfNull(bus);
        var positions = page.Events.Select(e => e.Sequence).ToArray();
        if (positions.Length == 0) return;

        // Every read on one snapshot of what earlier batches committed; the writes are queued into Marten's batch below.
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken);
        var builds = (await ReadBuildsAsync(connection, transaction, positions, cancellationToken)).Where(b => !b.Counted).ToList();
        if (builds.Count == 0) return;

        var (counts, recorded) = await ReadStateAsync(connection, transaction, [.. builds.Select(b => b.FactoryId).Distinct()], cancellationToken);
        var counted = new Dictionary<string, long>(counts, StringComparer.Ordinal);
        var reached = new List<(Build Build, long Milestone)>();
        foreach (var build in builds)
        {
            var n = counted.GetValueOrDefault(build.FactoryId) + 1;
            counted[build.FactoryId] = n;
            if (n % _every == 0 && !recorded.Contains((build.FactoryId, n))) reached.Add((build, n));
        }

        var messages = new List<(FactoryMilestoneReached Message, long Position)>();
        foreach (var (build, milestone) in reached)
        {
            var (serial, occurredAt) = await RankAsync(connection, transaction, build, milestone, builds, cancellationToken);
            messages.Add((new FactoryMilestoneReached(build.FactoryId, milestone, serial, occurredAt, build.RecordedAt, build.EventId), build.Position));
        }

        await transaction.CommitAsync(cancellationToken);

        Queue(operations, InsertBuilds,
            ("positions", builds.Select(b => b.Position).ToArray()),
            ("factory_ids", builds.Select(b => b.FactoryId).ToArray()),
            ("occurred_ats", builds.Select(b => b.OccurredAt).ToArray()),
            ("serials", builds.Select(b => b.Serial).ToArray()));
        var factories = counted.Keys.ToArray();
        Queue(operations, Count,
            ("factory_ids", factories),
            ("expected", factories.Select(f => counts.GetValueOrDefault(f)).ToArray()),
            ("counted", factories.Select(f => counted[f]).ToArray()));
        if (messages.Count == 0) return;

        Queue(operations, Record,
            ("factory_ids", messages.Select(m => m.Message.FactoryId).ToArray()),
            ("milestones", messages.Select(m => m.Message.Milestone).ToArray()),
            ("message_ids", messages.Select(m => m.Message.MessageId).ToArray()),
            ("serials", messages.Select(m => m.Message.Serial).ToArray()),
            ("occurred_ats", messages.Select(m => m.Message.OccurredAt).ToArray()),
            ("event_ids", messages.Select(m => m.Message.EventId).ToArray()),
            ("positions", messages.Select(m => m.Position).ToArray()),
            ("recorded_ats", messages.Select(m => m.Message.RecordedAt).ToArray()));
        // Fails the batch, recorded milestones included, when there is no route (IntegrationPublisher).
        await _publisher.PublishAsync(bus, [.. messages.Select(m => m.Message)]);
    }

    private static async Task<List<Build>> ReadBuildsAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, long[] positions, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(ReadBuilds, connection, transaction);
        command.Parameters.Add(new NpgsqlParameter<long[]>("positions", positions));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var builds = new List<Build>(positions.Length);
        while (await reader.ReadAsync(cancellationToken))
        {
            builds.Add(new Build(reader.GetInt64(0), reader.GetGuid(1), reader.GetString(2), reader.GetString(3),
                reader.GetFieldValue<DateTimeOffset>(4), reader.GetFieldValue<DateTimeOffset>(5), reader.GetBoolean(6)));
        }

        // Marten hands only committed events at or below its high-water mark, and history is append-only.
        if (builds.Count != positions.Length)
            throw new InvalidOperationException($"{positions.Length - builds.Count} of the batch's builds are not in ledger.events.");
        return builds;
    }

    private static async Task<(Dictionary<string, long> Counts, HashSet<(string, long)> Recorded)> ReadStateAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string[] factoryIds, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(ReadState, connection, transaction);
        command.Parameters.Add(new NpgsqlParameter<string[]>("factory_ids", factoryIds));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        var recorded = new HashSet<(string, long)>();
        while (await reader.ReadAsync(cancellationToken))
        {
            counts[reader.GetString(0)] = reader.GetInt64(1);
            if (!reader.IsDBNull(2)) recorded.Add((reader.GetString(0), reader.GetInt64(2)));
        }

        return (counts, recorded);
    }

    private static async Task<(string Serial, DateTimeOffset OccurredAt)> RankAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Build reaching, long milestone, List<Build> batch,
        CancellationToken cancellationToken)
    {
        var own = batch.Where(b => b.FactoryId == reaching.FactoryId && b.Position <= reaching.Position).ToArray();
        await using var command = new NpgsqlCommand(Rank, connection, transaction);
        command.Parameters.Add(new NpgsqlParameter<string>("factory_id", reaching.FactoryId));
        command.Parameters.Add(new NpgsqlParameter<long>("through_position", reaching.Position));
        command.Parameters.Add(new NpgsqlParameter<long>("nth", milestone));
        command.Parameters.Add(new NpgsqlParameter<string[]>("serials", own.Select(b => b.Serial).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<DateTimeOffset[]>("occurred_ats", own.Select(b => b.OccurredAt).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<long[]>("positions", own.Select(b => b.Position).ToArray()));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
            throw new InvalidOperationException($"Factory {reaching.FactoryId} counted {milestone} builds, but fewer are stored up to position {reaching.Position}.");
        return (reader.GetString(0), reader.GetFieldValue<DateTimeOffset>(1));
    }

    private static void Queue(IDocumentOperations operations, string namedSql, params (string Name, object Value)[] parameters)
    {
        using var command = new NpgsqlCommand(namedSql);
        foreach (var (name, value) in parameters) command.Parameters.Add(new NpgsqlParameter(name, value));
        var (sql, values) = PositionalSql.From(command);
        operations.QueueSqlCommand(sql, values);
    }

    private static string Read(string file) => SqlResources.Read(typeof(MilestoneSubscription).Assembly, file);

    private sealed record Build(
        long Position, Guid EventId, string Serial, string FactoryId, DateTimeOffset OccurredAt, DateTimeOffset RecordedAt, bool Counted);
}
