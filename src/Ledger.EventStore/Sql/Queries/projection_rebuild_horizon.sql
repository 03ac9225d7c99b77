-- A bulk replay's horizon: the live progression (at or below Marten's high-water mark, so the events at or below it are
-- a fixed set that no later commit can add to) and how many events that is. One statement, one snapshot.
select h.live, (select count(*) from ledger.events where position <= h.live) as events
from (select coalesce((select last_seq_id from ledger.mt_event_progression where name = @shard), 0) as live) h;
