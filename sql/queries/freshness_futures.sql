-- `ingest status`, dataset futures: per currency, the active futures; last_ts is the *stalest* active
-- contract's last candle, so one lagging contract shows (columns: see freshness_perpetuals.sql).
WITH active_futures AS (
    SELECT instrument_name, base_currency FROM instruments
    WHERE kind = 'future' AND settlement_period IS DISTINCT FROM 'perpetual'
      AND instrument_name NOT LIKE '%%-PERPETUAL'
      AND expiration_timestamp > now() AND creation_timestamp < now() - INTERVAL '10 minutes'
), fut AS (
    SELECT f.instrument_name, max(f.ts) AS last_ts, count(*) FILTER (WHERE f.ts > now() - INTERVAL '1 day') AS n
    FROM futures_ohlcv f
    WHERE f.ts > now() - INTERVAL '30 days'
    GROUP BY f.instrument_name
)
SELECT 'futures' AS dataset, a.base_currency || ' futures (' || count(*) || ' active)' AS grp,
       CASE WHEN bool_or(f.last_ts IS NULL) THEN NULL ELSE min(f.last_ts) END AS last_ts,
       coalesce(sum(f.n), 0) AS rows_24h, 60 AS cadence_s, true AS checked
FROM active_futures a LEFT JOIN fut f USING (instrument_name) GROUP BY a.base_currency
ORDER BY grp
