-- FactoryMilestoneReached (issue 13; docs/integration-events.md): the state of the Wolverine subscription
-- integration-milestones, which announces each factory's 1,000th, 2,000th, ... unit exactly once. These tables belong to
-- the subscription alone: the read models' rebuilds never touch them (the milestones read model keeps its own tables), so
-- a rebuild announces nothing again.

-- Every build the subscription has counted, keyed by feed position: a range it is handed again (a retried batch, a
-- rewound progression) finds its builds here and counts none of them twice. Also what a milestone's unit is ranked from.
create table if not exists ledger.integration_milestone_builds (
    position    bigint      primary key,
    factory_id  text        not null,
    occurred_at timestamptz not null,
    serial      text        not null
);

-- A factory's builds in rank order (occurredAt, then position): finding the nth is one index range scan.
create index if not exists integration_milestone_builds_rank_idx
    on ledger.integration_milestone_builds (factory_id, occurred_at, position) include (serial);

-- How many builds each factory has: the subscription's running count, moved only by ledger.integration_milestones_count.
create table if not exists ledger.integration_milestone_counts (
    factory_id text   primary key,
    builds     bigint not null check (builds >= 0)
);

-- One row per milestone ever passed: the primary key is what makes an announcement happen once. A batch that would add a
-- row already there fails as a whole (23505), its message with it.
create table if not exists ledger.integration_milestones (
    factory_id          text        not null,
    milestone           bigint      not null check (milestone > 0),
    -- Null for a milestone the ledger had passed before this release: recorded as passed, never announced.
    message_id          uuid,
    serial              text,
    unit_occurred_at    timestamptz,
    reached_event_id    uuid,
    reached_position    bigint,
    reached_recorded_at timestamptz,
    published_at        timestamptz,
    primary key (factory_id, milestone)
);

-- Moves the counts a batch read from what it read to what it counted. A count that moved in between (a second node's batch
-- that committed first: Marten's guarded progression update does not refuse the stale one, 9.62.0) fails the whole batch
-- instead of counting a build twice; 40001 marks it as a conflict to retry, which then reads the new count.
create or replace function ledger.integration_milestones_count(factory_ids text[], expected bigint[], counted bigint[])
returns void
language plpgsql as $$
begin
    for i in 1 .. coalesce(array_length(factory_ids, 1), 0) loop
        if expected[i] = 0 then
            insert into ledger.integration_milestone_counts as c (factory_id, builds) values (factory_ids[i], counted[i])
            on conflict (factory_id) do update set builds = excluded.builds where c.builds = 0;
        else
            update ledger.integration_milestone_counts set builds = counted[i]
            where factory_id = factory_ids[i] and builds = expected[i];
        end if;

        if not found then
            raise exception 'integration-milestones: the build count of factory % moved from % under the batch', factory_ids[i], expected[i]
                using errcode = '40001';
        end if;
    end loop;
end;
$$;

-- An existing ledger: what it has already built is counted and every milestone already passed is recorded as passed, so
-- the upgrade announces no old milestone. Every build visible now is seeded; the subscription then starts at the feed's
-- head (Marten's high-water mark: every position at or below it is committed or dead, so all of them are seeded), and a
-- build above the mark that is already seeded is recognised by its position and not counted again.
insert into ledger.integration_milestone_builds (position, factory_id, occurred_at, serial)
select e.position, e.data ->> 'factoryId', e.occurred_at, e.stream_id
from ledger.events e
where e.type = 'unit-built.v1'
on conflict (position) do nothing;

insert into ledger.integration_milestone_counts (factory_id, builds)
select factory_id, count(*) from ledger.integration_milestone_builds group by factory_id
on conflict (factory_id) do nothing;

insert into ledger.integration_milestones (factory_id, milestone)
select c.factory_id, m.milestone
from ledger.integration_milestone_counts c
cross join lateral generate_series(1000, c.builds, 1000) as m(milestone)
on conflict (factory_id, milestone) do nothing;

insert into ledger.mt_event_progression (name, last_seq_id, last_updated)
select 'integration-milestones:All', h.last_seq_id, now()
from ledger.mt_event_progression h
where h.name = 'HighWaterMark' and h.last_seq_id > 0
on conflict (name) do nothing;
