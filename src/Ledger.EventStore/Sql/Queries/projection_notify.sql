-- Wakes the owner's loop for this projection (delivered at commit) after an operator changed its checkpoint.
select pg_notify('ledger_projections', @name);
