-- Revision 0009 down: drop what 0009 created (the compression policy goes with the table).
DELETE FROM storage_settings WHERE relation = 'vol_expiry_1m';
DROP VIEW IF EXISTS atm_vol_1m;
DROP PROCEDURE IF EXISTS refresh_vol_expiry_1m(timestamptz, timestamptz);
DROP TABLE IF EXISTS vol_expiry_1m;
DROP FUNCTION IF EXISTS analytics_round(double precision, integer);
