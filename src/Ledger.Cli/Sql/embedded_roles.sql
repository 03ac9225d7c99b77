-- The embedded cluster's two roles (docs/operations.md, "Database roles"), set up by the superuser on every open:
-- ledger_owner owns the schema and migrates it; ledger_app is what the service connects as. The migration role must be a
-- member of the service role to hand it the read models' tables. Idempotent.
do $$
begin
    if not exists (select from pg_roles where rolname = 'ledger_owner') then
        create role ledger_owner login;
    end if;
    if not exists (select from pg_roles where rolname = 'ledger_app') then
        create role ledger_app login;
    end if;
end
$$;

grant ledger_app to ledger_owner;
alter database ledger owner to ledger_owner;
grant connect, temporary on database ledger to ledger_app;

-- A data directory made before the roles existed has its schema owned by the superuser: hand it to ledger_owner once
-- (REASSIGN OWNED cannot move objects of the bootstrap superuser).
do $$
declare
    object record;
begin
    if exists (select from pg_namespace where nspname = 'ledger' and pg_get_userbyid(nspowner) <> 'ledger_owner') then
        alter schema ledger owner to ledger_owner;
        for object in
            select c.oid::regclass as name
            from pg_class c
            where c.relnamespace = 'ledger'::regnamespace and c.relkind in ('r', 'p', 'S', 'v', 'm')
              and pg_get_userbyid(c.relowner) not in ('ledger_owner', 'ledger_app')
              -- sequences owned by a table column move with their table
              and not (c.relkind = 'S' and exists (select from pg_depend d where d.objid = c.oid and d.deptype in ('a', 'i')))
        loop
            execute format('alter table %s owner to ledger_owner', object.name);
        end loop;
        for object in
            select p.oid::regprocedure as name
            from pg_proc p
            where p.pronamespace = 'ledger'::regnamespace and pg_get_userbyid(p.proowner) <> 'ledger_owner'
        loop
            execute format('alter function %s owner to ledger_owner', object.name);
        end loop;
    end if;
end
$$;
