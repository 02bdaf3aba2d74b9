-- Does a window of a candle/funding table hold any row yet? (no: COPY straight into the table)
-- The table name is substituted by psycopg.sql in ingest/backfill/loading.py.
SELECT EXISTS (SELECT 1 FROM {table} WHERE instrument_name = %(instrument)s AND ts BETWEEN %(start)s AND %(end)s)
