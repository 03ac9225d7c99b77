-- History in Marten's tables is append-only, as in ledger.events (0001): these triggers hold even for the owner, so a
-- mistaken script cannot quietly rewrite history. The service role is also denied the privileges themselves by
-- database_roles_grant.sql (src/Ledger.Api), which the migration role runs after every migration with the service role's
-- name, which a migration does not know. Triggers on Marten's tables survive Marten's own migrations (0006, Q3).

create or replace function ledger.reject_marten_history_change() returns trigger
language plpgsql as $$
begin
    raise exception '%.% is append-only: % is not allowed', tg_table_schema, tg_table_name, tg_op
        using errcode = 'P0001',
              hint = 'Record a correcting event instead of changing history.';
end;
$$;

-- Marten's append only ever inserts events. Refused with them: archiving and tombstoning a stream (they update events).
create trigger mt_events_append_only
    before update or delete on ledger.mt_events
    for each row execute function ledger.reject_marten_history_change();

create trigger mt_events_no_truncate
    before truncate on ledger.mt_events
    for each statement execute function ledger.reject_marten_history_change();

-- A stream row is never removed (its events would go with it: fkey_mt_events_stream_id cascades).
create trigger mt_streams_no_delete
    before delete on ledger.mt_streams
    for each row execute function ledger.reject_marten_history_change();

create trigger mt_streams_no_truncate
    before truncate on ledger.mt_streams
    for each statement execute function ledger.reject_marten_history_change();

-- Marten's append to an existing stream updates its row: `version = greatest(version, …), timestamp = now()`
-- (mt_quick_append_events in 0004). Nothing else may change, and the version never goes down. Compared as whole rows less
-- those two columns, so a column a later Marten adds is covered too.
create or replace function ledger.reject_marten_stream_rewrite() returns trigger
language plpgsql as $$
begin
    if new.version < old.version
       or to_jsonb(new) - 'version' - 'timestamp' is distinct from to_jsonb(old) - 'version' - 'timestamp' then
        raise exception 'ledger.mt_streams only advances a stream''s version and timestamp: this update changes more'
            using errcode = 'P0001',
                  hint = 'Record a correcting event instead of changing history.';
    end if;

    return new;
end;
$$;

create trigger mt_streams_append_only
    before update on ledger.mt_streams
    for each row execute function ledger.reject_marten_stream_rewrite();
