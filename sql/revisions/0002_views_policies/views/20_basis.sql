-- Basis of dated futures against the perpetual of the same currency (see docs/sql-layer.md).
--
-- A continuous aggregate cannot join two hypertables, so these are plain views:
--   futures_basis_1h        over the hourly aggregates (a whole contract life in milliseconds)
--   futures_basis_1m        over the raw 1-minute tables: always query it with a ts range
--   futures_term_structure  the latest basis of every live future, per currency, by expiry
--
-- The perpetual of a future is '<instruments.base_currency>-PERPETUAL' (BTC-27DEC24 -> BTC-PERPETUAL),
-- joined at the same ts. basis = future close - perpetual close; basis_pct = basis / perpetual close
-- * 100; days_to_expiry = (instruments.expiration_timestamp (08:00 UTC) - time of the close) / 1 day,
-- the close being at the end of the bucket (ts + 1 minute, ts + 1 hour);
-- annualized_basis_pct = basis_pct * 365 / days_to_expiry (NULL when days_to_expiry <= 0).
-- A future without a row in instruments (no expiry known) has no basis row.

CREATE VIEW futures_basis_1m AS
SELECT f.ts,
       f.instrument_name                                   AS future,
       p.instrument_name                                   AS perpetual,
       i.base_currency                                     AS currency,
       i.expiration_timestamp                              AS expiry,
       f.close                                             AS future_close,
       p.close                                             AS perpetual_close,
       f.close - p.close                                   AS basis,
       (f.close - p.close) * 100 / p.close                 AS basis_pct,
       d.days_to_expiry,
       CASE WHEN d.days_to_expiry > 0
            THEN (f.close - p.close) * 100 / p.close * 365 / d.days_to_expiry END AS annualized_basis_pct
FROM futures_ohlcv f
JOIN instruments i ON i.instrument_name = f.instrument_name
JOIN perpetuals_ohlcv p ON p.instrument_name = i.base_currency || '-PERPETUAL' AND p.ts = f.ts
CROSS JOIN LATERAL (
    SELECT extract(epoch FROM i.expiration_timestamp - (f.ts + INTERVAL '1 minute')) / 86400 AS days_to_expiry
) d
WHERE i.expiration_timestamp IS NOT NULL AND p.close > 0;

-- futures_basis_1h is built so that its plan needs no statistics (the embedded server has no
-- autovacuum; a join of the two real-time aggregates planned without statistics became a nested loop
-- taking a minute for one contract-year). Per future (an instruments row that is not an option):
--   * r: the first and last hour of the future in futures_ohlcv_1h (an index scan of its rows);
--   * b: the future's hourly rows and the perpetual's inside [first, last], both read by index on
--     (instrument_name, ts), merged by one GROUP BY ts: no join whose strategy depends on estimates.
-- A ts range on the view is pushed into both index scans; a filter on future reads one instruments
-- row. The perpetual is read only over the future's life, never its whole history.
CREATE VIEW futures_basis_1h AS
SELECT b.ts,
       i.instrument_name                                   AS future,
       b.perpetual,
       i.base_currency                                     AS currency,
       i.expiration_timestamp                              AS expiry,
       b.future_close,
       b.perpetual_close,
       b.future_close - b.perpetual_close                  AS basis,
       (b.future_close - b.perpetual_close) * 100 / b.perpetual_close AS basis_pct,
       d.days_to_expiry,
       CASE WHEN d.days_to_expiry > 0
            THEN (b.future_close - b.perpetual_close) * 100 / b.perpetual_close * 365 / d.days_to_expiry
       END                                                 AS annualized_basis_pct
FROM instruments i
CROSS JOIN LATERAL (
    SELECT min(f.ts) AS first_ts, max(f.ts) AS last_ts
    FROM futures_ohlcv_1h f
    WHERE f.instrument_name = i.instrument_name
) r
CROSS JOIN LATERAL (
    SELECT u.ts,
           i.base_currency || '-PERPETUAL'                 AS perpetual,
           max(u.close) FILTER (WHERE u.side = 'F')       AS future_close,
           max(u.close) FILTER (WHERE u.side = 'P')       AS perpetual_close
    FROM (SELECT f.ts, 'F' AS side, f.close
          FROM futures_ohlcv_1h f
          WHERE f.instrument_name = i.instrument_name
          UNION ALL
          SELECT p.ts, 'P', p.close
          FROM perpetuals_ohlcv_1h p
          WHERE p.instrument_name = i.base_currency || '-PERPETUAL'
            AND p.ts >= r.first_ts AND p.ts <= r.last_ts) u
    GROUP BY u.ts
    HAVING count(*) FILTER (WHERE u.side = 'F') > 0 AND count(*) FILTER (WHERE u.side = 'P') > 0
) b
CROSS JOIN LATERAL (
    SELECT extract(epoch FROM i.expiration_timestamp - (b.ts + INTERVAL '1 hour')) / 86400 AS days_to_expiry
) d
WHERE i.expiration_timestamp IS NOT NULL
  AND i.kind NOT IN ('option', 'option_combo')
  AND b.perpetual_close > 0;

-- Live = instruments.expiration_timestamp > now(). The latest candle of each live future, against the
-- perpetual's latest candle at or before that minute (the same minute when it is stored).
CREATE VIEW futures_term_structure AS
SELECT i.base_currency                                     AS currency,
       i.instrument_name                                   AS future,
       i.expiration_timestamp                              AS expiry,
       f.ts,
       p.instrument_name                                   AS perpetual,
       f.close                                             AS future_close,
       p.close                                             AS perpetual_close,
       f.close - p.close                                   AS basis,
       (f.close - p.close) * 100 / p.close                 AS basis_pct,
       d.days_to_expiry,
       CASE WHEN d.days_to_expiry > 0
            THEN (f.close - p.close) * 100 / p.close * 365 / d.days_to_expiry END AS annualized_basis_pct
FROM instruments i
CROSS JOIN LATERAL (
    SELECT fo.ts, fo.close FROM futures_ohlcv fo
    WHERE fo.instrument_name = i.instrument_name ORDER BY fo.ts DESC LIMIT 1
) f
CROSS JOIN LATERAL (
    SELECT po.instrument_name, po.close FROM perpetuals_ohlcv po
    WHERE po.instrument_name = i.base_currency || '-PERPETUAL' AND po.ts <= f.ts
    ORDER BY po.ts DESC LIMIT 1
) p
CROSS JOIN LATERAL (
    SELECT extract(epoch FROM i.expiration_timestamp - (f.ts + INTERVAL '1 minute')) / 86400 AS days_to_expiry
) d
WHERE i.kind = 'future'
  AND i.expiration_timestamp > now()
  AND coalesce(i.settlement_period, '') <> 'perpetual'
  AND i.instrument_name NOT LIKE '%-PERPETUAL'
  AND p.close > 0
ORDER BY currency, expiry;
