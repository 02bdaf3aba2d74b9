-- Instruments the live candle job follows: every perpetual and every future that is active or expired
-- in the last %(grace_hours)s hours (so its final minutes are captured before the www host archives it),
-- with the last stored candle of each within the catch-up horizon (NULL: none stored yet).
WITH wanted AS (
    SELECT instrument_name, expiration_timestamp,
           (settlement_period = 'perpetual' OR instrument_name LIKE '%%-PERPETUAL') AS perpetual
    FROM instruments
    WHERE kind = 'future'
      AND base_currency = ANY(%(currencies)s)
      AND (expiration_timestamp IS NULL
           OR expiration_timestamp > now() - make_interval(hours => %(grace_hours)s))
      AND (creation_timestamp IS NULL OR creation_timestamp <= now())
), last_perp AS (
    SELECT instrument_name, max(ts) AS last_ts FROM perpetuals_ohlcv
    WHERE ts > now() - make_interval(secs => %(horizon_s)s)
      AND instrument_name IN (SELECT instrument_name FROM wanted WHERE perpetual)
    GROUP BY instrument_name
), last_fut AS (
    SELECT instrument_name, max(ts) AS last_ts FROM futures_ohlcv
    WHERE ts > now() - make_interval(secs => %(horizon_s)s)
      AND instrument_name IN (SELECT instrument_name FROM wanted WHERE NOT perpetual)
    GROUP BY instrument_name
)
SELECT w.instrument_name, w.perpetual, w.expiration_timestamp, coalesce(p.last_ts, f.last_ts) AS last_ts
FROM wanted w
LEFT JOIN last_perp p ON p.instrument_name = w.instrument_name
LEFT JOIN last_fut f ON f.instrument_name = w.instrument_name
ORDER BY w.perpetual DESC, w.instrument_name
