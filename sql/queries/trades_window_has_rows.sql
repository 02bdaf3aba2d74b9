-- Does a trades window hold any trade yet (no: COPY straight into the table)? The window's instrument
-- is its checkpoint name, the currency and the kinds it fetches: 'BTC option', 'ETH future+perpetual'.
-- The table name is substituted by psycopg.sql (ingest/backfill/engine.py, empty_windows).
SELECT EXISTS (SELECT 1 FROM {table}
               WHERE currency = split_part(%(instrument)s, ' ', 1)
                 AND kind = ANY (string_to_array(split_part(%(instrument)s, ' ', 2), '+'))
                 AND ts BETWEEN %(start)s AND %(end)s)
