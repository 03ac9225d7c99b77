-- After the COPYs: appends continue above the imported positions. Never moved backwards: a number drawn before the import
-- (by an append that then failed) must not be drawn again.
select setval('ledger.mt_events_sequence', greatest(@max_position, (select last_value from ledger.mt_events_sequence)));

-- The feed's head: every position up to the last imported one is an imported event or a hole the source left, and no
-- transaction can fill one any more (the sequence is past them, and the tables were locked). Marking it here shows the
-- imported ledger at once instead of after Marten's detector has timed out on each of the source's holes.
select ledger.mt_mark_event_progression('HighWaterMark', @max_position)
where @max_position > coalesce((select last_seq_id from ledger.mt_event_progression where name = 'HighWaterMark'), 0);

-- Every imported event is sealed, in the old blocks or the ones the import sealed for the source's unsealed tail.
update ledger.audit_sealer set sealed_through_position = @max_position;
