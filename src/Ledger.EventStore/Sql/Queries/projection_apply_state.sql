-- Read by MartenSqlProjection before each batch: whether the read model is stopped at a failure of its live tables (a
-- failure while replaying into a rebuild's shadow tables stops only the rebuild), and which of the batch's positions an
-- operator skipped for it.
select (select c.status = 'failed' and not c.failed_in_rebuild from ledger.projection_checkpoints c where c.name = @name),
       coalesce((select array_agg(s.position) from ledger.projection_skips s
                 where s.name = @name and s.position = any(@positions)), '{}'::bigint[]);
