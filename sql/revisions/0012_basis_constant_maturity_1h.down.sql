-- Revision 0012 down: drop what 0012 created.
DELETE FROM storage_settings WHERE relation = 'basis_cm_1h';
DROP VIEW IF EXISTS basis_constant_maturity_1h;
DROP PROCEDURE IF EXISTS refresh_basis_cm_1h(timestamptz, timestamptz);
DROP TABLE IF EXISTS basis_cm_1h;
