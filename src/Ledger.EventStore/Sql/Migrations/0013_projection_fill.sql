-- A fill's rebuild request is marked as one (issue 15 P8, docs/projections.md "Held read models and the fill").
--
-- A fill replays a read model the daemon never ran up to the store's high-water mark, not up to its progression (0),
-- and its swap sets the progression. A node that stops in the middle of a fill leaves its request behind; an ordinary
-- rebuild that carried it on would take the progression, which the daemon now moves from 0, for its horizon, and its
-- swap would refuse until that passed what the shadow tables hold. Marked, the request is carried on by the next fill
-- of the read model (a node that holds it again), and abandoned by any other node's rebuild maintenance.
alter table ledger.projection_checkpoints add column rebuild_fill boolean not null default false;

comment on column ledger.projection_checkpoints.rebuild_fill is
    'The rebuild request is a fill''s (ProjectionRebuild.StartFill): only a fill carries it on; a rebuild abandons it.';
