DROP FUNCTION IF EXISTS remove_storage_policies();
DROP FUNCTION IF EXISTS apply_storage_policies();
DROP FUNCTION IF EXISTS storage_aggregate_sources();
DROP TABLE IF EXISTS storage_settings;
