-- Create the refresh, compression and retention jobs from storage_settings.
SELECT * FROM apply_storage_policies();
