-- After deployments_save_units.sql, in the same transaction: a destination with nothing left in transit has no row.
delete from {ledger.deployment_in_transit} where units = 0;
