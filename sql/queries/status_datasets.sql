-- `ingest status`: per dataset and instrument group, the last timestamp, its lag and the rows of the
-- last 24 h. For a group of instruments (active futures, one currency's options) last_ts is the
-- *stalest* member's last row, so one lagging contract shows. cadence_s is how often the group is
-- written (the staleness threshold adds it); checked = false for series that are sparse by nature
-- (options_ohlcv holds only minutes with trades). Only the last 30 days are looked at.
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
), greeks AS (
    SELECT split_part(instrument_name, '-', 1) AS currency, source, instrument_name, max(ts) AS last_ts,
           count(*) FILTER (WHERE ts > now() - INTERVAL '1 day') AS n
    FROM options_greeks WHERE ts > now() - INTERVAL '30 days'
    GROUP BY 1, 2, 3
)
SELECT 'perpetuals_ohlcv' AS dataset, instrument_name AS grp, max(ts) AS last_ts,
       count(*) FILTER (WHERE ts > now() - INTERVAL '1 day') AS rows_24h, 60 AS cadence_s, true AS checked
FROM perpetuals_ohlcv WHERE ts > now() - INTERVAL '30 days' GROUP BY instrument_name
UNION ALL
SELECT 'futures_ohlcv', a.base_currency || ' futures (' || count(*) || ' active)',
       CASE WHEN bool_or(f.last_ts IS NULL) THEN NULL ELSE min(f.last_ts) END,
       coalesce(sum(f.n), 0), 60, true
FROM active_futures a LEFT JOIN fut f USING (instrument_name) GROUP BY a.base_currency
UNION ALL
SELECT 'options_ohlcv', split_part(instrument_name, '-', 1) || ' options (traded minutes)', max(ts),
       count(*) FILTER (WHERE ts > now() - INTERVAL '1 day'), 60, false
FROM options_ohlcv WHERE ts > now() - INTERVAL '30 days' GROUP BY 1, 2
UNION ALL
-- a chain snapshot covers every option of the currency at its minute: the group's last_ts is the
-- newest snapshot minute (options that expired stop by design)
SELECT 'options_greeks', currency || ' options ' || source, max(last_ts), sum(n),
       CASE WHEN source = 'exchange' THEN 3600 ELSE 60 END, true
FROM greeks GROUP BY currency, source
UNION ALL
SELECT 'funding_rates', instrument_name, max(ts), count(*) FILTER (WHERE ts > now() - INTERVAL '1 day'),
       3600, true
FROM funding_rates WHERE ts > now() - INTERVAL '30 days' GROUP BY instrument_name
UNION ALL
SELECT 'index_prices', index_name || '/' || source, max(ts),
       count(*) FILTER (WHERE ts > now() - INTERVAL '1 day'),
       CASE source WHEN 'ticker' THEN 60 WHEN 'funding' THEN 3600 ELSE 86400 END,
       source IN ('ticker', 'funding')
FROM index_prices WHERE ts > now() - INTERVAL '30 days' GROUP BY index_name, source
ORDER BY 1, 2
