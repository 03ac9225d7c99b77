-- The shadow tables are the live ones now (renamed in this transaction) and hold exactly what the live progression says:
-- the rebuild is over. The new generation fails any daemon batch computed from the replaced tables (projection_fence).
update ledger.projection_checkpoints
set generation = generation + 1,
    rebuild_requested_at = null, rebuild_started_at = null, rebuild_attempt = null, shadow_position = null,
    rebuild_counted_to = null, rebuild_fill = false,
    rebuild_finished_at = now(), updated_at = now()
where name = @name and rebuild_attempt = @attempt;
