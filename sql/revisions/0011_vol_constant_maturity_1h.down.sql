-- Revision 0011 down: drop what 0011 created.
DELETE FROM storage_settings WHERE relation = 'vol_surface_cm_1h';
DROP VIEW IF EXISTS vol_constant_maturity_1h;
DROP VIEW IF EXISTS vol_surface_1h;
DROP PROCEDURE IF EXISTS refresh_vol_surface_cm_1h(timestamptz, timestamptz);
DROP FUNCTION IF EXISTS analytics_total_variance_interp(double precision, double precision, double precision,
                                                        double precision, double precision);
DROP TABLE IF EXISTS vol_surface_cm_1h;
