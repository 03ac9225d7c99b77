-- What the service role may do (docs/operations.md, "Database roles"). Run by the migration role after every migration,
-- so tables added since are covered; idempotent. ledger.service_role and ledger.read_model_tables are set beforehand in
-- the same transaction (set_config), since a DO block takes no parameters; identifiers are quoted with %I.
do $$
declare
    service text := current_setting('ledger.service_role');
    read_model text;
begin
    if not pg_has_role(current_user, service, 'MEMBER') then
        raise exception 'The migration role % is not a member of the service role %.', current_user, service
            using errcode = '42501',
                  hint = format('Run GRANT %I TO %I: the migration role hands the read models'' tables to the service role and must still be able to migrate them.', service, current_user);
    end if;

    execute format('grant usage, create on schema ledger to %I', service);
    execute format('grant select, insert, update, delete on all tables in schema ledger to %I', service);
    execute format('grant usage, select on all sequences in schema ledger to %I', service);
    -- History is append-only: the service adds events and never changes or removes one. The trigger events_append_only
    -- refuses that even to the owner; this makes it a permission the service does not have in the first place.
    execute format('revoke update, delete, truncate, references, trigger on ledger.events from %I', service);
    -- Sealed blocks are evidence in the same way (docs/auditing.md): the sealer inserts them, nobody changes one.
    execute format('revoke update, delete, truncate, references, trigger on ledger.blocks from %I', service);
    -- The same for Marten's event store (issue 12; the triggers of event-store migration 0005 hold for the owner). Marten's
    -- append inserts events and, for an existing stream, updates only its stream row's version and timestamp (0006, Q3).
    execute format('revoke update, delete, truncate, references, trigger on ledger.mt_events from %I', service);
    execute format('revoke update, delete, truncate, references, trigger on ledger.mt_streams from %I', service);
    execute format('grant update (version, timestamp) on ledger.mt_streams to %I', service);
    -- Only the migration role records migrations.
    execute format('revoke insert, update, delete, truncate on ledger.migrations from %I', service);

    -- Read models belong to the service: a rebuild creates shadow tables, renames them into place and drops the old ones,
    -- which only a table's owner may do.
    foreach read_model in array string_to_array(current_setting('ledger.read_model_tables'), ',') loop
        if to_regclass(read_model) is not null
           and (select pg_get_userbyid(relowner) from pg_class where oid = to_regclass(read_model)) <> service then
            execute format('alter table %s owner to %I', to_regclass(read_model), service);
        end if;
    end loop;
end
$$;
