-- Revision 0021: historical (realised) volatility, hourly, forward-only (docs/datasets.md,
-- "historical_volatility"). The exchange serves only its last ~16 days: a point exists here only if the
-- collector stored it in time. historical_volatility_gaps lists the hours missing between stored points
-- (never to be filled).
CREATE TABLE historical_volatility (
    ts          timestamptz      NOT NULL,
    currency    text             NOT NULL,
    volatility  double precision NOT NULL,
    UNIQUE (currency, ts)
);
-- two points an hour: decades per chunk would do; a year keeps chunks of a familiar size
SELECT create_hypertable('historical_volatility', by_range('ts', INTERVAL '365 days'));
ALTER TABLE historical_volatility SET (timescaledb.compress, timescaledb.compress_segmentby = 'currency',
                                       timescaledb.compress_orderby = 'ts DESC');

-- Missing hours between consecutive stored points: (currency, last point before, first point after,
-- hours missing).
CREATE VIEW historical_volatility_gaps AS
SELECT currency, prev_ts AS gap_after, ts AS gap_until,
       (extract(epoch FROM ts - prev_ts) / 3600)::integer - 1 AS hours_missing
FROM (SELECT currency, ts, lag(ts) OVER (PARTITION BY currency ORDER BY ts) AS prev_ts
      FROM historical_volatility) s
WHERE ts - prev_ts > INTERVAL '1 hour';

INSERT INTO storage_settings (relation, compress_after, retain_for, note)
VALUES ('historical_volatility', '30 days', NULL, 'hourly realised volatility, forward-only: kept forever');
SELECT add_compression_policy('historical_volatility', compress_after => INTERVAL '30 days');
