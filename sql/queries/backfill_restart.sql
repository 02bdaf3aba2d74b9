-- --restart: forget the checkpoints of a dataset (all instruments, or the named ones).
DELETE FROM backfill_checkpoints
WHERE dataset = %(dataset)s AND (%(instruments)s::text[] IS NULL OR instrument_name = ANY(%(instruments)s::text[]))
