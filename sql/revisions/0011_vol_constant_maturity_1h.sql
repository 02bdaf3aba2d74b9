-- Revision 0011: constant-maturity volatility, hourly per currency (see docs/sql-layer.md,
-- "Volatility analytics").
--
--   vol_surface_cm_1h                   stored, full precision: one row per hour and currency, the
--                                       whole surface (ATM, 25-delta call and put IV at 5 tenors)
--   refresh_vol_surface_cm_1h(s, e)     (re)computes the hours that overlap [s, e) (upsert)
--   vol_surface_1h                      what people read: the surface as one row per hour, rounded
--   vol_constant_maturity_1h            the same, one row per hour and tenor (tenor_days), rounded
--
-- Tenors: 7, 30, 60, 90 and 180 days (tau = tenor / 365 years). From the hour's rows of
-- vol_expiry_1h, for each of ATM IV, 25-delta call IV and 25-delta put IV separately: the expiry
-- with the largest time to expiry T1 <= tau that has the value and the one with the smallest
-- T2 >= tau that has it; the total variance w = sigma^2 T is interpolated linearly in T,
--   w(tau) = w1 + (w2 - w1) (tau - T1) / (T2 - T1),   sigma(tau) = sqrt(w(tau) / tau)
-- (an expiry at exactly tau: its value). Never extrapolated: a tenor outside the listed expiries
-- that have the value is NULL. rr_25d = call - put, bf_25d = (call + put) / 2 - ATM, all at tau.
--
-- One row per hour (not per hour and tenor): a year of one currency is 8,760 rows, which psql
-- returns in a fraction of the time 43,800 would take (benchmarks/bench_analytics.py).
--
-- The 30-day ATM is DVOL's horizon: a volatility-index table stored later joins on (currency, ts)
-- with vol_surface_1h.atm_iv_30d (or vol_constant_maturity_1h with tenor_days = 30).

CREATE TABLE vol_surface_cm_1h (
    ts                  timestamptz      NOT NULL,
    currency            text             NOT NULL,
    atm_iv_7d           double precision,
    atm_iv_30d          double precision,
    atm_iv_60d          double precision,
    atm_iv_90d          double precision,
    atm_iv_180d         double precision,
    iv_call_25d_7d      double precision,
    iv_call_25d_30d     double precision,
    iv_call_25d_60d     double precision,
    iv_call_25d_90d     double precision,
    iv_call_25d_180d    double precision,
    iv_put_25d_7d       double precision,
    iv_put_25d_30d      double precision,
    iv_put_25d_60d      double precision,
    iv_put_25d_90d      double precision,
    iv_put_25d_180d     double precision,
    -- the listed range: days to the shortest and the longest expiry with an ATM IV that hour
    shortest_expiry_days double precision,
    longest_expiry_days  double precision,
    PRIMARY KEY (currency, ts)
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
        (ts, currency,
         atm_iv_7d, atm_iv_30d, atm_iv_60d, atm_iv_90d, atm_iv_180d,
         iv_call_25d_7d, iv_call_25d_30d, iv_call_25d_60d, iv_call_25d_90d, iv_call_25d_180d,
         iv_put_25d_7d, iv_put_25d_30d, iv_put_25d_60d, iv_put_25d_90d, iv_put_25d_180d,
         shortest_expiry_days, longest_expiry_days)
    WITH expiries AS (
        SELECT e.ts, e.currency, e.years_to_expiry AS t, e.atm_iv, e.iv_call_25d, e.iv_put_25d
        FROM vol_expiry_1h e
        WHERE e.ts >= time_bucket(INTERVAL '1 hour', range_start)
          AND e.ts < time_bucket(INTERVAL '1 hour', range_end - INTERVAL '1 microsecond') + INTERVAL '1 hour'
          AND e.years_to_expiry > 0
    ), tenors (tenor_days) AS (
        VALUES (7), (30), (60), (90), (180)
    ), brackets AS (
        -- (T, sigma) of the nearest expiry on each side of tau having each value
        SELECT e.ts, e.currency, n.tenor_days, n.tenor_days / 365.0::float8 AS tau,
               max(e.t)                 FILTER (WHERE e.t <= n.tenor_days / 365.0 AND e.atm_iv IS NOT NULL) AS a_t1,
               last(e.atm_iv, e.t)      FILTER (WHERE e.t <= n.tenor_days / 365.0 AND e.atm_iv IS NOT NULL) AS a_s1,
               min(e.t)                 FILTER (WHERE e.t >= n.tenor_days / 365.0 AND e.atm_iv IS NOT NULL) AS a_t2,
               first(e.atm_iv, e.t)     FILTER (WHERE e.t >= n.tenor_days / 365.0 AND e.atm_iv IS NOT NULL) AS a_s2,
               max(e.t)                 FILTER (WHERE e.t <= n.tenor_days / 365.0 AND e.iv_call_25d IS NOT NULL) AS c_t1,
               last(e.iv_call_25d, e.t) FILTER (WHERE e.t <= n.tenor_days / 365.0 AND e.iv_call_25d IS NOT NULL) AS c_s1,
               min(e.t)                 FILTER (WHERE e.t >= n.tenor_days / 365.0 AND e.iv_call_25d IS NOT NULL) AS c_t2,
               first(e.iv_call_25d, e.t) FILTER (WHERE e.t >= n.tenor_days / 365.0 AND e.iv_call_25d IS NOT NULL) AS c_s2,
               max(e.t)                 FILTER (WHERE e.t <= n.tenor_days / 365.0 AND e.iv_put_25d IS NOT NULL) AS p_t1,
               last(e.iv_put_25d, e.t)  FILTER (WHERE e.t <= n.tenor_days / 365.0 AND e.iv_put_25d IS NOT NULL) AS p_s1,
               min(e.t)                 FILTER (WHERE e.t >= n.tenor_days / 365.0 AND e.iv_put_25d IS NOT NULL) AS p_t2,
               first(e.iv_put_25d, e.t) FILTER (WHERE e.t >= n.tenor_days / 365.0 AND e.iv_put_25d IS NOT NULL) AS p_s2,
               min(e.t) FILTER (WHERE e.atm_iv IS NOT NULL) AS t_min,
               max(e.t) FILTER (WHERE e.atm_iv IS NOT NULL) AS t_max
        FROM expiries e
        CROSS JOIN tenors n
        GROUP BY e.ts, e.currency, n.tenor_days
    ), cm AS (
        SELECT ts, currency, tenor_days, t_min, t_max,
               analytics_total_variance_interp(tau, a_t1, a_s1, a_t2, a_s2) AS atm,
               analytics_total_variance_interp(tau, c_t1, c_s1, c_t2, c_s2) AS c,
               analytics_total_variance_interp(tau, p_t1, p_s1, p_t2, p_s2) AS p
        FROM brackets
    )
    SELECT ts, currency,
           max(atm) FILTER (WHERE tenor_days = 7), max(atm) FILTER (WHERE tenor_days = 30),
           max(atm) FILTER (WHERE tenor_days = 60), max(atm) FILTER (WHERE tenor_days = 90),
           max(atm) FILTER (WHERE tenor_days = 180),
           max(c) FILTER (WHERE tenor_days = 7), max(c) FILTER (WHERE tenor_days = 30),
           max(c) FILTER (WHERE tenor_days = 60), max(c) FILTER (WHERE tenor_days = 90),
           max(c) FILTER (WHERE tenor_days = 180),
           max(p) FILTER (WHERE tenor_days = 7), max(p) FILTER (WHERE tenor_days = 30),
           max(p) FILTER (WHERE tenor_days = 60), max(p) FILTER (WHERE tenor_days = 90),
           max(p) FILTER (WHERE tenor_days = 180),
           min(t_min) * 365, max(t_max) * 365
    FROM cm
    GROUP BY ts, currency
    ON CONFLICT (currency, ts) DO UPDATE SET
        atm_iv_7d = excluded.atm_iv_7d, atm_iv_30d = excluded.atm_iv_30d, atm_iv_60d = excluded.atm_iv_60d,
        atm_iv_90d = excluded.atm_iv_90d, atm_iv_180d = excluded.atm_iv_180d,
        iv_call_25d_7d = excluded.iv_call_25d_7d, iv_call_25d_30d = excluded.iv_call_25d_30d,
        iv_call_25d_60d = excluded.iv_call_25d_60d, iv_call_25d_90d = excluded.iv_call_25d_90d,
        iv_call_25d_180d = excluded.iv_call_25d_180d,
        iv_put_25d_7d = excluded.iv_put_25d_7d, iv_put_25d_30d = excluded.iv_put_25d_30d,
        iv_put_25d_60d = excluded.iv_put_25d_60d, iv_put_25d_90d = excluded.iv_put_25d_90d,
        iv_put_25d_180d = excluded.iv_put_25d_180d,
        shortest_expiry_days = excluded.shortest_expiry_days, longest_expiry_days = excluded.longest_expiry_days;
END
$$;

CREATE VIEW vol_surface_1h AS
SELECT ts, currency,
       analytics_round(atm_iv_7d, 2)                                            AS atm_iv_7d,
       analytics_round(atm_iv_30d, 2)                                           AS atm_iv_30d,
       analytics_round(atm_iv_60d, 2)                                           AS atm_iv_60d,
       analytics_round(atm_iv_90d, 2)                                           AS atm_iv_90d,
       analytics_round(atm_iv_180d, 2)                                          AS atm_iv_180d,
       analytics_round(iv_call_25d_7d - iv_put_25d_7d, 2)                       AS rr_25d_7d,
       analytics_round(iv_call_25d_30d - iv_put_25d_30d, 2)                     AS rr_25d_30d,
       analytics_round(iv_call_25d_60d - iv_put_25d_60d, 2)                     AS rr_25d_60d,
       analytics_round(iv_call_25d_90d - iv_put_25d_90d, 2)                     AS rr_25d_90d,
       analytics_round(iv_call_25d_180d - iv_put_25d_180d, 2)                   AS rr_25d_180d,
       analytics_round((iv_call_25d_7d + iv_put_25d_7d) / 2 - atm_iv_7d, 2)     AS bf_25d_7d,
       analytics_round((iv_call_25d_30d + iv_put_25d_30d) / 2 - atm_iv_30d, 2)  AS bf_25d_30d,
       analytics_round((iv_call_25d_60d + iv_put_25d_60d) / 2 - atm_iv_60d, 2)  AS bf_25d_60d,
       analytics_round((iv_call_25d_90d + iv_put_25d_90d) / 2 - atm_iv_90d, 2)  AS bf_25d_90d,
       analytics_round((iv_call_25d_180d + iv_put_25d_180d) / 2 - atm_iv_180d, 2) AS bf_25d_180d,
       analytics_round(shortest_expiry_days, 2)                                 AS shortest_expiry_days,
       analytics_round(longest_expiry_days, 2)                                  AS longest_expiry_days
FROM vol_surface_cm_1h;

CREATE VIEW vol_constant_maturity_1h AS
SELECT s.ts, s.currency, t.tenor_days,
       analytics_round(t.atm, 2)                      AS atm_iv,
       analytics_round(t.c - t.p, 2)                  AS rr_25d,
       analytics_round((t.c + t.p) / 2 - t.atm, 2)    AS bf_25d,
       analytics_round(t.c, 2)                        AS call_25d_iv,
       analytics_round(t.p, 2)                        AS put_25d_iv
FROM vol_surface_cm_1h s
CROSS JOIN LATERAL (VALUES
    (7,   s.atm_iv_7d,   s.iv_call_25d_7d,   s.iv_put_25d_7d),
    (30,  s.atm_iv_30d,  s.iv_call_25d_30d,  s.iv_put_25d_30d),
    (60,  s.atm_iv_60d,  s.iv_call_25d_60d,  s.iv_put_25d_60d),
    (90,  s.atm_iv_90d,  s.iv_call_25d_90d,  s.iv_put_25d_90d),
    (180, s.atm_iv_180d, s.iv_call_25d_180d, s.iv_put_25d_180d)
) AS t (tenor_days, atm, c, p);

REVOKE ALL ON FUNCTION analytics_total_variance_interp(double precision, double precision, double precision,
                                                       double precision, double precision) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION analytics_total_variance_interp(double precision, double precision, double precision,
                                                          double precision, double precision) TO analyst, ingest_writer;
REVOKE ALL ON PROCEDURE refresh_vol_surface_cm_1h(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE refresh_vol_surface_cm_1h(timestamptz, timestamptz) TO ingest_writer;

INSERT INTO storage_settings (relation, compress_after, retain_for, note)
VALUES ('vol_surface_cm_1h', NULL, NULL, 'constant-maturity volatility (refresh_analytics): kept forever');
