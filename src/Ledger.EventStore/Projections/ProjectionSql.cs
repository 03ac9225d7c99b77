using Ledger.EventStore.Schema;

namespace Ledger.EventStore.Projections;

/// <summary>The admin's, the supervisor's and MartenSqlProjection's queries, one embedded file each (Sql/Queries/projection_*.sql).</summary>
internal static class ProjectionSql
{
    public static readonly string Status = Read("projection_status.sql");
    public static readonly string CursorRead = Read("projection_cursor_read.sql");
    public static readonly string Retry = Read("projection_retry.sql");
    public static readonly string SkipRead = Read("projection_skip_read.sql");
    public static readonly IReadOnlyList<string> SkipApply = SqlStatements.Split(Read("projection_skip_apply.sql"));
    public static readonly string RequestRebuild = Read("projection_request_rebuild.sql");
    public static readonly string CursorOfPosition = Read("projection_cursor_of_position.sql");
    public static readonly string Notify = Read("projection_notify.sql");
    public static readonly string ApplyState = Read("projection_apply_state.sql");
    public static readonly string OwnerClaim = Read("projection_owner_claim.sql");
    public static readonly string ProgressFence = Read("projection_progress_fence.sql");
    public static readonly string RecordFailure = Read("projection_record_failure.sql");
    public static readonly string RowsEnsure = Read("projection_rows_ensure.sql");
    public static readonly string SubscriptionStatus = Read("subscription_status.sql");
    public static readonly string LagSample = Read("projection_lag_sample.sql");

    private static string Read(string fileName) => SqlResources.Read(typeof(ProjectionSql).Assembly, fileName);
}
