-- The factory of each of these units (units without a row are left out): one round trip for a page of the feed.
select serial, factory_id
from ledger.unit_status
where serial = any(@serials);
