-- `ingest status`, dataset trades: per currency and kind, the newest trade and the trades of the last
-- 24 h; columns: see freshness_perpetuals.sql. The live job stores every kind each minute: perpetuals
-- trade all the time (cadence 60 s), options and dated futures may be quiet for minutes (300 s). The
-- groups and counts come from trades_1m (cheap on a tape of millions of rows a day); the newest trade
-- from the tape itself, along its time index.
WITH groups AS (
    SELECT currency, kind, sum(trades) FILTER (WHERE ts > now() - INTERVAL '1 day') AS rows_24h
    FROM trades_1m WHERE ts > now() - INTERVAL '30 days'
    GROUP BY currency, kind
)
SELECT 'trades' AS dataset, g.currency || ' ' || g.kind AS grp,
       (SELECT t.ts FROM trades t
        WHERE t.currency = g.currency AND t.kind = g.kind AND t.ts > now() - INTERVAL '30 days'
        ORDER BY t.ts DESC LIMIT 1) AS last_ts,
       coalesce(g.rows_24h, 0)::bigint AS rows_24h,
       CASE g.kind WHEN 'perpetual' THEN 60 ELSE 300 END AS cadence_s, true AS checked
FROM groups g
ORDER BY grp
