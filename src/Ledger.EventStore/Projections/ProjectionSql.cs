using Ledger.EventStore.Schema;

namespace Ledger.EventStore.Projections;

/// <summary>The daemon's and the admin's queries, one embedded file each (Sql/Queries/projection_*.sql).</summary>
internal static class ProjectionSql
{
    public static readonly string CheckpointEnsure = Read("projection_checkpoint_ensure.sql");
    public static readonly string CheckpointRead = Read("projection_checkpoint_read.sql");
    public static readonly string CheckpointLock = Read("projection_checkpoint_lock.sql");
    public static readonly string CheckpointAdvance = Read("projection_checkpoint_advance.sql");
    public static readonly string ShadowAdvance = Read("projection_shadow_advance.sql");
    public static readonly string Fail = Read("projection_fail.sql");
    public static readonly string RebuildStart = Read("projection_rebuild_start.sql");
    public static readonly string RebuildCreateTable = Read("projection_rebuild_create_table.sql");
    public static readonly string RebuildSwapTable = Read("projection_rebuild_swap_table.sql");
    public static readonly string RebuildGap = Read("projection_rebuild_gap.sql");
    public static readonly string RebuildFinish = Read("projection_rebuild_finish.sql");
    public static readonly string BulkStart = Read("projection_bulk_start.sql");
    public static readonly string BulkHorizon = Read("projection_bulk_horizon.sql");
    public static readonly string BulkWrite = Read("projection_bulk_write.sql");
    public static readonly string BulkFinish = Read("projection_bulk_finish.sql");
    public static readonly IReadOnlyList<string> NodeHeartbeat = SqlStatements.Split(Read("projection_node_heartbeat.sql"));
    public static readonly IReadOnlyList<string> NodeRemove = SqlStatements.Split(Read("projection_node_remove.sql"));
    public static readonly string NodeLock = Read("projection_node_lock.sql");
    public static readonly string UnlockAll = Read("projection_unlock_all.sql");
    public static readonly string Listen = Read("projection_listen.sql");
    public static readonly string TryLock = Read("projection_try_lock.sql");
    public static readonly string Unlock = Read("projection_unlock.sql");
    public static readonly string OwnerSet = Read("projection_owner_set.sql");
    public static readonly string OwnerClear = Read("projection_owner_clear.sql");
    public static readonly string Status = Read("projection_status.sql");
    public static readonly string CursorRead = Read("projection_cursor_read.sql");
    public static readonly string Retry = Read("projection_retry.sql");
    public static readonly string SkipRead = Read("projection_skip_read.sql");
    public static readonly string SkipNextEvent = Read("projection_skip_next_event.sql");
    public static readonly IReadOnlyList<string> SkipApply = SqlStatements.Split(Read("projection_skip_apply.sql"));
    public static readonly string RequestRebuild = Read("projection_request_rebuild.sql");
    public static readonly string CursorOfPosition = Read("projection_cursor_of_position.sql");
    public static readonly string Notify = Read("projection_notify.sql");

    private static string Read(string fileName) => SqlResources.Read(typeof(ProjectionSql).Assembly, fileName);
}
