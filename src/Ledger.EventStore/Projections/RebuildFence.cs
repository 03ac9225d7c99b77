using Ledger.EventStore.Schema;
using Npgsql;

namespace Ledger.EventStore.Projections;

/// <summary>
/// Wraps a read model run by Marten's daemon so that a batch computed from tables a rebuild has since replaced never
/// commits (docs/projections.md, "Rebuilds"). Register <c>new RebuildFence(projection)</c> in
/// <see cref="EventStoreOptions.AsyncProjections"/>; <see cref="ProjectionRebuild"/> replays the projection itself.
/// </summary>
/// <remarks>
/// <para>The swap renames the shadow tables into place while the daemon may hold a batch it computed from the old ones;
/// its queued writes wait for the swap's locks and then, by name, land in the new tables. Marten's guard on its
/// progression update (<c>where last_seq_id = floor</c>) does not stop it: in Marten 9.62.0 a batch holding our writes
/// commits although that update matched no row (measured by RebuildTests before the progress fence of migration 0011,
/// which now also refuses such a batch when the progression moved; the swap leaves it in place, hence this fence).</para>
/// <para>So the batch reads the table generation first, in one statement before any read of the tables, and queues
/// <c>ledger.projection_fence</c> last, after its writes (Marten runs its progression update first, then these). The
/// fence takes a share lock on the checkpoint row the swap updates: a batch that waited for the swap sees the new
/// generation and fails (PostgreSQL error LR001: the batch's first row-returning statement, whose error reaches Marten,
/// unlike a later one's; see <see cref="MartenSqlProjection"/>'s progress fence); Marten pauses the shard and, about five seconds later
/// (HealthCheckPollingTime), starts it again from its progression, which the swap left where it was, so it recomputes the
/// batch from the new tables (measured: RebuildTests). A batch that moved the progression before the swap locked it makes
/// the swap wait for its commit. Either way every event lands once.</para>
/// </remarks>
public sealed class RebuildFence(IProjection inner) : IProjection
{
    /// <summary>The SQL state of the fence's error: the batch was computed from tables a rebuild replaced (not a fault).</summary>
    public const string SwappedSqlState = "LR001";

    private static readonly string Generation = SqlResources.Read(typeof(RebuildFence).Assembly, "projection_fence_generation.sql");
    private static readonly string Fence = SqlResources.Read(typeof(RebuildFence).Assembly, "projection_fence.sql");

    /// <summary>The read model.</summary>
    public IProjection Inner { get; } = inner ?? throw new ArgumentNullException(nameof(inner));

    /// <inheritdoc />
    public string Name => Inner.Name;

    /// <inheritdoc />
    public IReadOnlyList<string> Tables => Inner.Tables;

    /// <inheritdoc />
    public IReadOnlyCollection<string>? EventTypes => Inner.EventTypes;

    /// <inheritdoc />
    public async Task ApplyAsync(ProjectionBatch batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        long generation;
        await using (var read = new NpgsqlCommand(Generation, batch.Connection, batch.Transaction))
        {
            read.Parameters.Add(ProjectionRebuild.Text("name", Name));
            generation = (long)(await read.ExecuteScalarAsync(cancellationToken))!;
        }

        await Inner.ApplyAsync(batch, cancellationToken);

        await using var fence = new NpgsqlCommand(Fence);
        fence.Parameters.Add(ProjectionRebuild.Text("name", Name));
        fence.Parameters.Add(ProjectionRebuild.Bigint("generation", generation));
        await batch.ExecuteAsync(fence, cancellationToken);
    }
}
