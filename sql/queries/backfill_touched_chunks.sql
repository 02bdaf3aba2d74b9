-- The chunks of a hypertable overlapping the range a backfill loaded [%(lo)s, %(hi)s]: ANALYZE these
-- (fresh planner statistics after a big load; the embedded server has no autovacuum) and not the rest.
SELECT format('%%I.%%I', chunk_schema, chunk_name)
FROM timescaledb_information.chunks
WHERE hypertable_name = %(table)s
  AND range_end > %(lo)s
  AND range_start <= %(hi)s
ORDER BY range_start
