-- Revision 0010: hourly at-the-money volatility and skew of every expiry (see docs/sql-layer.md,
-- "Volatility analytics").
--
--   vol_expiry_1h                 stored, full precision: one row per hour, currency, expiry
--   refresh_vol_expiry_1h(s, e)   (re)computes the hours that overlap [s, e) (upsert)
--   atm_vol_1h                    hourly ATM, rounded
--   vol_skew_1h                   hourly 25-delta and 10-delta call/put IVs, risk reversals and
--                                 butterflies, rounded
--
-- The hour's snapshot (snapshot_ts) is its latest snapshot with an ATM IV in vol_expiry_1m (the
-- latest one when none has): every column of the row comes from that one snapshot.
--
-- Skew: the IV at call delta 0.25 / 0.10 and at put delta -0.25 / -0.10, interpolated linearly in
-- delta between the two options of that type nearest to the target on either side (by the chain's
-- computed deltas, options_greeks.delta, and each option's own mark_iv). A delta exactly at the
-- target gives its IV; no option on one side (a wing without quotes, IVs missing): NULL.
--   rr = call IV - put IV;  bf = (call IV + put IV) / 2 - ATM IV
--
-- A refresh needs the raw snapshot: once options_greeks has dropped it (retention), the stored
-- hourly rows stay as they are.

CREATE TABLE vol_expiry_1h (
    ts                timestamptz      NOT NULL,
    currency          text             NOT NULL,
    expiry            timestamptz      NOT NULL,
    snapshot_ts       timestamptz      NOT NULL,
    snapshots         integer          NOT NULL,
    years_to_expiry   double precision NOT NULL,
    forward           numeric(18,8),
    atm_iv            double precision,
    iv_call_25d       double precision,
    iv_put_25d        double precision,
    iv_call_10d       double precision,
    iv_put_10d        double precision,
    PRIMARY KEY (currency, expiry, ts)
);
SELECT create_hypertable('vol_expiry_1h', by_range('ts', INTERVAL '90 days'));

-- The IV at a target delta from the nearest option on each side: (d1, iv1) with delta >= target,
-- (d2, iv2) with delta < target.
CREATE FUNCTION analytics_iv_at_delta(target double precision, d1 double precision, iv1 double precision,
                                      d2 double precision, iv2 double precision)
RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN d1 = target THEN iv1
                WHEN d1 > target AND d2 < target THEN iv1 + (iv2 - iv1) * (target - d1) / (d2 - d1)
           END
$$;

CREATE PROCEDURE refresh_vol_expiry_1h(range_start timestamptz, range_end timestamptz)
LANGUAGE plpgsql AS $$
BEGIN
    IF range_start IS NULL OR range_end IS NULL OR range_start >= range_end THEN
        RAISE EXCEPTION 'refresh_vol_expiry_1h: empty or invalid range [%, %)', range_start, range_end;
    END IF;
    INSERT INTO vol_expiry_1h AS v
        (ts, currency, expiry, snapshot_ts, snapshots, years_to_expiry, forward, atm_iv,
         iv_call_25d, iv_put_25d, iv_call_10d, iv_put_10d)
    WITH hours AS (
        SELECT time_bucket(INTERVAL '1 hour', m.ts) AS hour, m.currency, m.expiry,
               coalesce(max(m.ts) FILTER (WHERE m.atm_iv IS NOT NULL), max(m.ts)) AS snapshot_ts,
               count(*) AS snapshots
        FROM vol_expiry_1m m
        WHERE m.ts >= time_bucket(INTERVAL '1 hour', range_start)
          AND m.ts < time_bucket(INTERVAL '1 hour', range_end - INTERVAL '1 microsecond') + INTERVAL '1 hour'
        GROUP BY 1, 2, 3
    ), wings AS (
        SELECT h.hour, h.currency, h.expiry,
               min(g.delta)      FILTER (WHERE i.option_type = 'call' AND g.delta >= 0.25)  AS c25_d1,
               first(g.mark_iv, g.delta) FILTER (WHERE i.option_type = 'call' AND g.delta >= 0.25)  AS c25_iv1,
               max(g.delta)      FILTER (WHERE i.option_type = 'call' AND g.delta < 0.25)   AS c25_d2,
               last(g.mark_iv, g.delta)  FILTER (WHERE i.option_type = 'call' AND g.delta < 0.25)   AS c25_iv2,
               min(g.delta)      FILTER (WHERE i.option_type = 'call' AND g.delta >= 0.10)  AS c10_d1,
               first(g.mark_iv, g.delta) FILTER (WHERE i.option_type = 'call' AND g.delta >= 0.10)  AS c10_iv1,
               max(g.delta)      FILTER (WHERE i.option_type = 'call' AND g.delta < 0.10)   AS c10_d2,
               last(g.mark_iv, g.delta)  FILTER (WHERE i.option_type = 'call' AND g.delta < 0.10)   AS c10_iv2,
               min(g.delta)      FILTER (WHERE i.option_type = 'put' AND g.delta >= -0.25)  AS p25_d1,
               first(g.mark_iv, g.delta) FILTER (WHERE i.option_type = 'put' AND g.delta >= -0.25)  AS p25_iv1,
               max(g.delta)      FILTER (WHERE i.option_type = 'put' AND g.delta < -0.25)   AS p25_d2,
               last(g.mark_iv, g.delta)  FILTER (WHERE i.option_type = 'put' AND g.delta < -0.25)   AS p25_iv2,
               min(g.delta)      FILTER (WHERE i.option_type = 'put' AND g.delta >= -0.10)  AS p10_d1,
               first(g.mark_iv, g.delta) FILTER (WHERE i.option_type = 'put' AND g.delta >= -0.10)  AS p10_iv1,
               max(g.delta)      FILTER (WHERE i.option_type = 'put' AND g.delta < -0.10)   AS p10_d2,
               last(g.mark_iv, g.delta)  FILTER (WHERE i.option_type = 'put' AND g.delta < -0.10)   AS p10_iv2
        FROM hours h
        JOIN instruments i ON i.base_currency = h.currency AND i.kind = 'option'
                          AND i.expiration_timestamp = h.expiry
        JOIN options_greeks g ON g.instrument_name = i.instrument_name AND g.ts = h.snapshot_ts
                             AND g.source = 'computed'
        WHERE g.mark_iv IS NOT NULL AND g.delta IS NOT NULL AND i.strike > 0
        GROUP BY 1, 2, 3
    )
    SELECT h.hour, h.currency, h.expiry, h.snapshot_ts, h.snapshots, m.years_to_expiry, m.forward, m.atm_iv,
           analytics_iv_at_delta(0.25, w.c25_d1::float8, w.c25_iv1::float8, w.c25_d2::float8, w.c25_iv2::float8),
           analytics_iv_at_delta(-0.25, w.p25_d1::float8, w.p25_iv1::float8, w.p25_d2::float8, w.p25_iv2::float8),
           analytics_iv_at_delta(0.10, w.c10_d1::float8, w.c10_iv1::float8, w.c10_d2::float8, w.c10_iv2::float8),
           analytics_iv_at_delta(-0.10, w.p10_d1::float8, w.p10_iv1::float8, w.p10_d2::float8, w.p10_iv2::float8)
    FROM hours h
    JOIN vol_expiry_1m m ON m.currency = h.currency AND m.expiry = h.expiry AND m.ts = h.snapshot_ts
    -- the snapshot's rows must still be in options_greeks (a snapshot whose options all lack an IV
    -- has no wings row: its skew is NULL)
    LEFT JOIN wings w ON w.hour = h.hour AND w.currency = h.currency AND w.expiry = h.expiry
    WHERE EXISTS (SELECT 1 FROM options_greeks g
                  WHERE g.ts = h.snapshot_ts AND g.source = 'computed'
                    AND g.instrument_name LIKE h.currency || '-%')
    ON CONFLICT (currency, expiry, ts) DO UPDATE SET
        snapshot_ts = excluded.snapshot_ts, snapshots = excluded.snapshots,
        years_to_expiry = excluded.years_to_expiry, forward = excluded.forward, atm_iv = excluded.atm_iv,
        iv_call_25d = excluded.iv_call_25d, iv_put_25d = excluded.iv_put_25d,
        iv_call_10d = excluded.iv_call_10d, iv_put_10d = excluded.iv_put_10d;
END
$$;

CREATE VIEW atm_vol_1h AS
SELECT ts, currency, expiry, snapshot_ts,
       analytics_round(years_to_expiry * 365, 3) AS days_to_expiry,
       round(forward, 2)                          AS forward,
       analytics_round(atm_iv, 2)                 AS atm_iv
FROM vol_expiry_1h;

CREATE VIEW vol_skew_1h AS
SELECT ts, currency, expiry, snapshot_ts,
       analytics_round(years_to_expiry * 365, 3)                          AS days_to_expiry,
       analytics_round(atm_iv, 2)                                         AS atm_iv,
       analytics_round(iv_call_25d, 2)                                    AS call_25d_iv,
       analytics_round(iv_put_25d, 2)                                     AS put_25d_iv,
       analytics_round(iv_call_25d - iv_put_25d, 2)                       AS rr_25d,
       analytics_round((iv_call_25d + iv_put_25d) / 2 - atm_iv, 2)        AS bf_25d,
       analytics_round(iv_call_10d, 2)                                    AS call_10d_iv,
       analytics_round(iv_put_10d, 2)                                     AS put_10d_iv,
       analytics_round(iv_call_10d - iv_put_10d, 2)                       AS rr_10d,
       analytics_round((iv_call_10d + iv_put_10d) / 2 - atm_iv, 2)        AS bf_10d
FROM vol_expiry_1h;

REVOKE ALL ON FUNCTION analytics_iv_at_delta(double precision, double precision, double precision,
                                             double precision, double precision) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION analytics_iv_at_delta(double precision, double precision, double precision,
                                                double precision, double precision) TO analyst, ingest_writer;
REVOKE ALL ON PROCEDURE refresh_vol_expiry_1h(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE refresh_vol_expiry_1h(timestamptz, timestamptz) TO ingest_writer;

INSERT INTO storage_settings (relation, compress_after, retain_for, note)
VALUES ('vol_expiry_1h', NULL, NULL, 'hourly ATM and skew per expiry (refresh_analytics): kept forever');
