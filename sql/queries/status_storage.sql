-- Bytes per hypertable (the storage_usage view of the SQL layer gives more; this works without it).
SELECT h.hypertable_name::text AS relation,
       hypertable_size(format('%%I.%%I', h.hypertable_schema, h.hypertable_name)::regclass) AS bytes
FROM timescaledb_information.hypertables h
WHERE h.hypertable_schema NOT IN ('_timescaledb_internal', '_timescaledb_catalog')
ORDER BY 1
