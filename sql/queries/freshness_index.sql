-- `ingest status`, dataset index: per index and source; the daily delivery prices and the sparse trade
-- index are not checked; columns: see freshness_perpetuals.sql.
SELECT 'index' AS dataset, index_name || '/' || source AS grp, max(ts) AS last_ts,
       count(*) FILTER (WHERE ts > now() - INTERVAL '1 day') AS rows_24h,
       CASE source WHEN 'ticker' THEN 60 WHEN 'funding' THEN 3600 ELSE 86400 END AS cadence_s,
       source IN ('ticker', 'funding') AS checked
FROM index_prices WHERE ts > now() - INTERVAL '30 days' GROUP BY index_name, source
ORDER BY grp
