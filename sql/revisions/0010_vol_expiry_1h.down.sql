-- Revision 0010 down: drop what 0010 created.
DELETE FROM storage_settings WHERE relation = 'vol_expiry_1h';
DROP VIEW IF EXISTS vol_skew_1h;
DROP VIEW IF EXISTS atm_vol_1h;
DROP PROCEDURE IF EXISTS refresh_vol_expiry_1h(timestamptz, timestamptz);
DROP FUNCTION IF EXISTS analytics_iv_at_delta(double precision, double precision, double precision,
                                              double precision, double precision);
DROP TABLE IF EXISTS vol_expiry_1h;
