-- Revision 0011: constant-maturity volatility, hourly per currency (see docs/sql-layer.md,
-- "Volatility analytics").
--
--   vol_surface_cm_1h                   stored, full precision: one row per hour, currency, tenor
--   refresh_vol_surface_cm_1h(s, e)     (re)computes the hours that overlap [s, e) (upsert)
--   vol_constant_maturity_1h            what people read: ATM, 25-delta RR and BF, rounded
--
-- Tenors: 7, 30, 60, 90 and 180 days (tau = tenor / 365 years). From the hour's rows of
-- vol_expiry_1h, for each of ATM IV, 25-delta call IV and 25-delta put IV separately: the expiry
-- with the largest time to expiry T1 <= tau that has the value and the one with the smallest
-- T2 >= tau that has it; the total variance w = sigma^2 T is interpolated linearly in T,
--   w(tau) = w1 + (w2 - w1) (tau - T1) / (T2 - T1),   sigma(tau) = sqrt(w(tau) / tau)
-- (an expiry at exactly tau: its value). Never extrapolated: a tenor outside the listed expiries
-- that have the value is NULL. rr_25d = call - put, bf_25d = (call + put) / 2 - ATM, all at tau.
--
-- The 30-day ATM is DVOL's horizon: a volatility-index table stored later joins on
-- (currency, ts) with tenor_days = 30.

CREATE TABLE vol_surface_cm_1h (
    ts                 timestamptz      NOT NULL,
    currency           text             NOT NULL,
    tenor_days         integer          NOT NULL,
    atm_iv             double precision,
    iv_call_25d        double precision,
    iv_put_25d         double precision,
    rr_25d             double precision,
    bf_25d             double precision,
    atm_expiry_below   timestamptz,
    atm_expiry_above   timestamptz,
    PRIMARY KEY (currency, ts, tenor_days)
);
SELECT create_hypertable('vol_surface_cm_1h', by_range('ts', INTERVAL '365 days'));

-- sigma at tau from (T1, sigma1) and (T2, sigma2), T1 <= tau <= T2, linear in total variance.
CREATE FUNCTION analytics_total_variance_interp(tau double precision, t1 double precision,
                                                 sigma1 double precision, t2 double precision,
                                                 sigma2 double precision)
RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN t1 = tau THEN sigma1
                WHEN t2 = tau THEN sigma2
                WHEN t1 < tau AND tau < t2 THEN
                    sqrt(greatest(sigma1 * sigma1 * t1
                                  + (sigma2 * sigma2 * t2 - sigma1 * sigma1 * t1) * (tau - t1) / (t2 - t1),
                                  0) / tau)
           END
$$;

CREATE PROCEDURE refresh_vol_surface_cm_1h(range_start timestamptz, range_end timestamptz)
LANGUAGE plpgsql AS $$
BEGIN
    IF range_start IS NULL OR range_end IS NULL OR range_start >= range_end THEN
        RAISE EXCEPTION 'refresh_vol_surface_cm_1h: empty or invalid range [%, %)', range_start, range_end;
    END IF;
    INSERT INTO vol_surface_cm_1h AS v
        (ts, currency, tenor_days, atm_iv, iv_call_25d, iv_put_25d, rr_25d, bf_25d,
         atm_expiry_below, atm_expiry_above)
    WITH tenors (tenor_days) AS (
        VALUES (7), (30), (60), (90), (180)
    ), brackets AS (
        SELECT e.ts, e.currency, t.tenor_days, t.tenor_days / 365.0::float8 AS tau,
               -- (T, sigma) of the nearest expiry on each side having each value
               max(e.years_to_expiry) FILTER (WHERE e.years_to_expiry <= t.tenor_days / 365.0 AND e.atm_iv IS NOT NULL) AS atm_t1,
               last(e.atm_iv, e.years_to_expiry) FILTER (WHERE e.years_to_expiry <= t.tenor_days / 365.0 AND e.atm_iv IS NOT NULL) AS atm_s1,
               last(e.expiry, e.years_to_expiry) FILTER (WHERE e.years_to_expiry <= t.tenor_days / 365.0 AND e.atm_iv IS NOT NULL) AS atm_e1,
               min(e.years_to_expiry) FILTER (WHERE e.years_to_expiry >= t.tenor_days / 365.0 AND e.atm_iv IS NOT NULL) AS atm_t2,
               first(e.atm_iv, e.years_to_expiry) FILTER (WHERE e.years_to_expiry >= t.tenor_days / 365.0 AND e.atm_iv IS NOT NULL) AS atm_s2,
               first(e.expiry, e.years_to_expiry) FILTER (WHERE e.years_to_expiry >= t.tenor_days / 365.0 AND e.atm_iv IS NOT NULL) AS atm_e2,
               max(e.years_to_expiry) FILTER (WHERE e.years_to_expiry <= t.tenor_days / 365.0 AND e.iv_call_25d IS NOT NULL) AS c_t1,
               last(e.iv_call_25d, e.years_to_expiry) FILTER (WHERE e.years_to_expiry <= t.tenor_days / 365.0 AND e.iv_call_25d IS NOT NULL) AS c_s1,
               min(e.years_to_expiry) FILTER (WHERE e.years_to_expiry >= t.tenor_days / 365.0 AND e.iv_call_25d IS NOT NULL) AS c_t2,
               first(e.iv_call_25d, e.years_to_expiry) FILTER (WHERE e.years_to_expiry >= t.tenor_days / 365.0 AND e.iv_call_25d IS NOT NULL) AS c_s2,
               max(e.years_to_expiry) FILTER (WHERE e.years_to_expiry <= t.tenor_days / 365.0 AND e.iv_put_25d IS NOT NULL) AS p_t1,
               last(e.iv_put_25d, e.years_to_expiry) FILTER (WHERE e.years_to_expiry <= t.tenor_days / 365.0 AND e.iv_put_25d IS NOT NULL) AS p_s1,
               min(e.years_to_expiry) FILTER (WHERE e.years_to_expiry >= t.tenor_days / 365.0 AND e.iv_put_25d IS NOT NULL) AS p_t2,
               first(e.iv_put_25d, e.years_to_expiry) FILTER (WHERE e.years_to_expiry >= t.tenor_days / 365.0 AND e.iv_put_25d IS NOT NULL) AS p_s2
        FROM vol_expiry_1h e
        CROSS JOIN tenors t
        WHERE e.ts >= time_bucket(INTERVAL '1 hour', range_start)
          AND e.ts < time_bucket(INTERVAL '1 hour', range_end - INTERVAL '1 microsecond') + INTERVAL '1 hour'
          AND e.years_to_expiry > 0
        GROUP BY e.ts, e.currency, t.tenor_days
    ), cm AS (
        SELECT ts, currency, tenor_days,
               analytics_total_variance_interp(tau, atm_t1, atm_s1, atm_t2, atm_s2) AS atm_iv,
               analytics_total_variance_interp(tau, c_t1, c_s1, c_t2, c_s2)         AS iv_call_25d,
               analytics_total_variance_interp(tau, p_t1, p_s1, p_t2, p_s2)         AS iv_put_25d,
               CASE WHEN atm_t1 IS NOT NULL AND atm_t2 IS NOT NULL THEN atm_e1 END AS atm_expiry_below,
               CASE WHEN atm_t1 IS NOT NULL AND atm_t2 IS NOT NULL THEN atm_e2 END AS atm_expiry_above
        FROM brackets
    )
    SELECT ts, currency, tenor_days, atm_iv, iv_call_25d, iv_put_25d,
           iv_call_25d - iv_put_25d, (iv_call_25d + iv_put_25d) / 2 - atm_iv,
           atm_expiry_below, atm_expiry_above
    FROM cm
    ON CONFLICT (currency, ts, tenor_days) DO UPDATE SET
        atm_iv = excluded.atm_iv, iv_call_25d = excluded.iv_call_25d, iv_put_25d = excluded.iv_put_25d,
        rr_25d = excluded.rr_25d, bf_25d = excluded.bf_25d,
        atm_expiry_below = excluded.atm_expiry_below, atm_expiry_above = excluded.atm_expiry_above;
END
$$;

CREATE VIEW vol_constant_maturity_1h AS
SELECT ts, currency, tenor_days,
       analytics_round(atm_iv, 2)       AS atm_iv,
       analytics_round(rr_25d, 2)       AS rr_25d,
       analytics_round(bf_25d, 2)       AS bf_25d,
       analytics_round(iv_call_25d, 2)  AS call_25d_iv,
       analytics_round(iv_put_25d, 2)   AS put_25d_iv,
       atm_expiry_below,
       atm_expiry_above
FROM vol_surface_cm_1h;

REVOKE ALL ON FUNCTION analytics_total_variance_interp(double precision, double precision, double precision,
                                                       double precision, double precision) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION analytics_total_variance_interp(double precision, double precision, double precision,
                                                          double precision, double precision) TO analyst, ingest_writer;
REVOKE ALL ON PROCEDURE refresh_vol_surface_cm_1h(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE refresh_vol_surface_cm_1h(timestamptz, timestamptz) TO ingest_writer;

INSERT INTO storage_settings (relation, compress_after, retain_for, note)
VALUES ('vol_surface_cm_1h', NULL, NULL, 'constant-maturity volatility (refresh_analytics): kept forever');
